package analytics

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// stopEN are English function words and the fillers of survey comments.
// Negations (not, no, never) are stop words too: they would top every
// list; the phrases around them still show ("not working" is split, but
// "never works" keeps "works").
var stopEN = set(
	"a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "aren't",
	"as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can",
	"can't", "cannot", "could", "couldn't", "did", "didn't", "do", "does", "doesn't", "doing", "don't", "dont",
	"down", "during", "each", "even", "ever", "every", "few", "for", "from", "further", "get", "got", "had",
	"hadn't", "has", "hasn't", "have", "haven't", "having", "he", "her", "here", "hers", "herself", "him",
	"himself", "his", "how", "i", "i'd", "i'll", "i'm", "i've", "if", "im", "in", "into", "is", "isn't", "it",
	"it's", "its", "itself", "just", "let", "let's", "lot", "lots", "many", "me", "more", "most", "much", "must",
	"my", "myself", "never", "no", "nor", "not", "now", "of", "off", "ok", "okay", "on", "once", "one", "only",
	"or", "other", "our", "ours", "ourselves", "out", "over", "own", "please", "quite", "rather", "really",
	"same", "she", "should", "shouldn't", "so", "some", "still", "such", "than", "that", "that's", "the",
	"their", "theirs", "them", "themselves", "then", "there", "there's", "these", "they", "they're", "thing",
	"things", "this", "those", "though", "through", "to", "too", "under", "until", "up", "us", "very", "was",
	"wasn't", "we", "we're", "we've", "well", "were", "weren't", "what", "when", "where", "which", "while", "who",
	"whom", "why", "will", "with", "won't", "would", "wouldn't", "yes", "yet", "you", "you're", "your", "yours",
	"yourself", "yourselves", "thanks", "thank", "etc", "bit", "way", "like", "make", "made", "use", "used",
	"using", "go", "going", "gets", "getting", "pm", "went", "keep", "keeps", "kept", "two", "three", "four",
	"five", "six", "seven", "eight", "nine", "ten", "first", "second", "days", "day", "weeks", "week", "months",
	"month", "hours", "hour", "minutes", "times", "time", "year", "years",
)

// stopZH are Chinese function words and fillers (simplified and
// traditional); single characters are dropped anyway.
var stopZH = set(
	"一个", "一些", "一直", "一下", "一样", "一点", "不过", "不是", "为了", "为什么", "也是", "了解", "什么",
	"他们", "以后", "以及", "但是", "作为", "你们", "其实", "其他", "其它", "可以", "可能", "各种", "因为",
	"如果", "就是", "已经", "并且", "所以", "所有", "我们", "或者", "时候", "是不是", "有点", "有些", "没有",
	"然后", "现在", "目前", "而且", "自己", "虽然", "还是", "还有", "这个", "这些", "这样", "这种", "那个",
	"那些", "那么", "非常", "比较", "特别", "真的", "感觉", "觉得", "希望", "一般", "总体", "整体", "方面",
	"东西", "之后", "之前", "这么", "怎么", "怎样", "如何", "大家", "我们的", "您们", "谢谢", "感谢", "时间",
	"一個", "一些", "一直", "為了", "為什麼", "什麼", "他們", "以後", "但是", "你們", "其實", "可以", "可能",
	"因為", "如果", "就是", "已經", "並且", "所以", "所有", "我們", "或者", "時候", "有點", "沒有", "然後",
	"現在", "目前", "而且", "自己", "雖然", "還是", "還有", "這個", "這些", "這樣", "這種", "那個", "那些",
	"非常", "比較", "特別", "真的", "感覺", "覺得", "希望", "一般", "總體", "整體", "方面", "東西", "之後",
	"之前", "這麼", "怎麼", "如何", "大家", "謝謝", "感謝", "時間",
)
