package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/store"
)

// shortLink sends a short SMS link on to its reply page. Look-ups are
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
	token := ""
	var err error
	if len(code) == store.ShortCodeLen {
		token, err = a.cfg.Store.ResolveShort(c.Request.Context(), code)
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
	if q := c.Request.URL.RawQuery; q != "" {
		target += "?" + q
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, target)
}
