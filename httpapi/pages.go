package httpapi

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/survey"
)

//go:embed web/*.html
var webFS embed.FS

// pages renders the public, server-side pages (reply, thanks, messages).
type pages struct{ t *template.Template }

func loadPages() (*pages, error) {
	t, err := template.New("").ParseFS(webFS, "web/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse pages: %w", err)
	}
	return &pages{t: t}, nil
}

// render writes a page; rendering to a buffer first means a template error
// becomes a clean 500 instead of half a page.
func (p *pages) render(c *gin.Context, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name, data); err != nil {
		c.String(500, "internal error")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("X-Frame-Options", "DENY")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// ui holds the words of the pages around the survey's own text.
type ui struct {
	Comment, Submit, Send, Yes, No, Thanks, Recorded              string
	PickScore, TooLong                                            string
	NotFoundTitle, NotFoundBody, ExpiredBody                      string
	LockedTitle, LockedBody                                       string
	UnsubTitle, UnsubBody, UnsubButton, UnsubDoneTitle, UnsubDone string
	Low, High                                                     map[survey.Kind]string
}

var uiText = map[string]ui{
	"en": {
		Comment: "Tell us more (optional)", Submit: "Submit", Send: "Send", Yes: "Yes", No: "No",
		Thanks: "Thank you for your answer!", Recorded: "Your answer has been recorded. You can close this page.",
		PickScore: "Please choose a score.", TooLong: "Your comment is too long (5000 characters at most).",
		NotFoundTitle: "Survey not found", NotFoundBody: "This survey link is not valid. Please check that you opened the whole link from your message.",
		ExpiredBody: "This survey has closed. Thank you for your interest.",
		LockedTitle: "Answer already recorded", LockedBody: "Thank you: your answer was recorded and can no longer be changed.",
		UnsubTitle: "Unsubscribe from surveys", UnsubBody: "You will not receive any more surveys from us.", UnsubButton: "Unsubscribe",
		UnsubDoneTitle: "You are unsubscribed", UnsubDone: "You will not receive any more surveys from us.",
		Low:  map[survey.Kind]string{survey.NPS: "Not at all likely", survey.CSAT: "Very dissatisfied", survey.CES: "Very difficult"},
		High: map[survey.Kind]string{survey.NPS: "Extremely likely", survey.CSAT: "Very satisfied", survey.CES: "Very easy"},
	},
	"zh-CN": {
		Comment: "还有什么想告诉我们的吗？（可选）", Submit: "提交", Send: "发送", Yes: "可以", No: "不用了",
		Thanks: "感谢您的回答！", Recorded: "您的回答已记录，可以关闭此页面。",
		PickScore: "请选择一个分数。", TooLong: "您的留言太长了（最多 5000 字）。",
		NotFoundTitle: "找不到该问卷", NotFoundBody: "此问卷链接无效，请确认您打开的是消息中的完整链接。",
		ExpiredBody: "此问卷已结束，感谢您的关注。",
		LockedTitle: "已记录您的回答", LockedBody: "谢谢！您的回答已记录，无法再修改。",
		UnsubTitle: "退订问卷", UnsubBody: "退订后您将不再收到我们的问卷。", UnsubButton: "退订",
		UnsubDoneTitle: "您已退订", UnsubDone: "您将不再收到我们的问卷。",
		Low:  map[survey.Kind]string{survey.NPS: "完全不可能", survey.CSAT: "非常不满意", survey.CES: "非常困难"},
		High: map[survey.Kind]string{survey.NPS: "非常可能", survey.CSAT: "非常满意", survey.CES: "非常容易"},
	},
	"zh-TW": {
		Comment: "還有什麼想告訴我們的嗎？（選填）", Submit: "送出", Send: "送出", Yes: "可以", No: "不用了",
		Thanks: "感謝您的回答！", Recorded: "您的回答已記錄，可以關閉此頁面。",
		PickScore: "請選擇一個分數。", TooLong: "您的留言太長了（最多 5000 字）。",
		NotFoundTitle: "找不到該問卷", NotFoundBody: "此問卷連結無效，請確認您開啟的是訊息中的完整連結。",
		ExpiredBody: "此問卷已結束，感謝您的關注。",
		LockedTitle: "已記錄您的回答", LockedBody: "謝謝！您的回答已記錄，無法再修改。",
		UnsubTitle: "取消訂閱問卷", UnsubBody: "取消訂閱後您將不再收到我們的問卷。", UnsubButton: "取消訂閱",
		UnsubDoneTitle: "您已取消訂閱", UnsubDone: "您將不再收到我們的問卷。",
		Low:  map[survey.Kind]string{survey.NPS: "完全不可能", survey.CSAT: "非常不滿意", survey.CES: "非常困難"},
		High: map[survey.Kind]string{survey.NPS: "非常可能", survey.CSAT: "非常滿意", survey.CES: "非常容易"},
	},
}

// uiFor picks the page words for a locale or an Accept-Language header
// ("zh-TW,zh;q=0.9,en;q=0.8": the first language wins).
func uiFor(locale string) (ui, string) {
	if i := strings.IndexAny(locale, ",;"); i >= 0 {
		locale = locale[:i]
	}
	l := survey.MatchLocale(strings.TrimSpace(locale))
	return uiText[l], l
}

// messageView is a page with a heading, a sentence and maybe one button.
type messageView struct {
	Lang, Title, Heading, Body string
	Action, Button             string
}
