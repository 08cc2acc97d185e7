package feishu

import (
	"encoding/json"
	"testing"

	"github.com/npsgate/npsgate/channels"
)

// A vector computed outside Go (openssl dgst -sha256 -hmac, and Python as
// in Feishu's documentation): the key is timestamp+"\n"+secret and the
// message is empty.
const (
	vectorSecret    = "fEiShUsEcReT42xyz"
	vectorTimestamp = 1700000000
	vectorSign      = "s3OUSO0iERoTWOrxCs9Y0iOmRtorqJrd04AWLR8HGZ8="
)

func TestSignVector(t *testing.T) {
	if got := sign(vectorSecret, vectorTimestamp); got != vectorSign {
		t.Errorf("sign = %q, want %q", got, vectorSign)
	}
}

func TestPayloadCarriesTimestampAsString(t *testing.T) {
	b, err := payload(&channels.Message{Text: "hi"}, "1700000000", vectorSign)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Timestamp any    `json:"timestamp"`
		Sign      string `json:"sign"`
		MsgType   string `json:"msg_type"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Timestamp != "1700000000" || p.Sign != vectorSign || p.MsgType != "interactive" {
		t.Errorf("payload %s", b)
	}
}

func TestParseAddressDropsSecret(t *testing.T) {
	b, err := parseAddress("https://open.feishu.cn/open-apis/bot/v2/hook/tok?secret=s3cr3t&x=1#frag")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.u.String(); got != "https://open.feishu.cn/open-apis/bot/v2/hook/tok?x=1" || b.secret != "s3cr3t" {
		t.Errorf("url %s secret %q", got, b.secret)
	}
	b, err = parseAddress("https://open.feishu.cn/open-apis/bot/v2/hook/tok?secret=s3cr3t")
	if err != nil || b.u.String() != "https://open.feishu.cn/open-apis/bot/v2/hook/tok" {
		t.Errorf("url %v err %v", b.u, err)
	}
}
