package analytics

import (
	"reflect"
	"testing"
)

func TestTokensChinese(t *testing.T) {
	w := NewWords()
	got, err := w.Tokens("客服响应太慢了，等了三天才有人回复")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"客服", "响应", "太慢", "三天", "有人", "回复"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
}

func TestTokensMixed(t *testing.T) {
	w := NewWords()
	got, err := w.Tokens("The SSO login is broken again; 报表导出功能经常出错. Customer's support was great!")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sso", "login", "broken", "报表", "导出", "功能", "经常", "出错", "customer", "support", "great"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
}

func TestTopCountsCommentsNotRepeats(t *testing.T) {
	w := NewWords()
	words, phrases, err := w.Top([]string{
		"Customer support is slow, slow, slow.",
		"customer support never answers",
		"Great onboarding. Support team was helpful",
		"客服响应太慢",
		"客服响应很慢，价格太贵",
		"价格太贵了",
	}, 5)
	if err != nil {
		t.Fatal(err)
	}
	wantWords := []Term{{"support", 3}, {"customer", 2}, {"价格", 2}, {"响应", 2}, {"太贵", 2}}
	if !reflect.DeepEqual(words, wantWords) {
		t.Errorf("words = %v, want %v", words, wantWords)
	}
	wantPhrases := []Term{{"customer support", 2}, {"价格太贵", 2}, {"客服响应", 2}}
	if !reflect.DeepEqual(phrases, wantPhrases) {
		t.Errorf("phrases = %v, want %v", phrases, wantPhrases)
	}
}
