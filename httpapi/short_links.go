package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/store"
)

// shortLink sends a short SMS link on to its reply page, a reminder's
// with m=n so the answer says which message it came from. Look-ups are
// limited per IP, which with 57^7 codes makes guessing one hopeless.
func (a *API) shortLink(c *gin.Context) {
	u, lang := uiFor(c.GetHeader("Accept-Language"))
	if ok, retry := a.allow(c.Request.Context(), "short-ip:"+c.ClientIP(), 60, time.Minute); !ok {
		c.Header("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		a.pages.render(c, http.StatusTooManyRequests, "message", messageView{Lang: lang, Title: u.NotFoundTitle,
			Heading: "429", Body: "Too many requests; please try again in a minute."})
		return
	}
	code := c.Param("code")
	token, via := "", 0
	var err error
	if len(code) == store.ShortCodeLen {
		token, via, err = a.cfg.Store.ResolveShort(c.Request.Context(), code)
	} else {
		err = store.ErrNotFound
	}
	if err != nil {
		status := http.StatusNotFound
		if !errors.Is(err, store.ErrNotFound) {
			status = http.StatusServiceUnavailable
		}
		a.pages.render(c, status, "message", messageView{Lang: lang, Title: u.NotFoundTitle, Heading: u.NotFoundTitle, Body: u.NotFoundBody})
		return
	}
	target := "/r/" + token
	q := c.Request.URL.Query()
	if via > 0 && q.Get("m") == "" {
		// A reminder's own code: the page records which message it was.
		q.Set("m", strconv.Itoa(via))
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, target)
}
