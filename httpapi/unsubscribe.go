package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/store"
)

// unsubscribePage asks for confirmation; like the reply page, a GET changes
// nothing because scanners follow links.
func (a *API) unsubscribePage(c *gin.Context) {
	rc := a.loadUnsubscribe(c)
	if rc == nil {
		return
	}
	a.pages.render(c, http.StatusOK, "message", messageView{Lang: rc.lang, Title: rc.ui.UnsubTitle,
		Heading: rc.ui.UnsubTitle, Body: rc.ui.UnsubBody, Action: "/u/" + rc.d.Token, Button: rc.ui.UnsubButton})
}

// unsubscribePost is both the page's button and the RFC 8058 one-click POST
// (body "List-Unsubscribe=One-Click") that mail clients send. The contact is
// opted out of every survey on every channel, and the address is suppressed
// so it stays out even if it is saved on another contact.
func (a *API) unsubscribePost(c *gin.Context) {
	rc := a.loadUnsubscribe(c)
	if rc == nil {
		return
	}
	now := a.cfg.Now()
	if err := a.cfg.Store.OptOutContact(c.Request.Context(), rc.d.ContactID, "unsubscribe", now); err != nil {
		a.log.Error("unsubscribe: opt out", "delivery_id", rc.d.ID, "err", err)
		c.String(http.StatusServiceUnavailable, "could not unsubscribe; please try again")
		return
	}
	if err := a.cfg.Store.AddSuppression(c.Request.Context(), store.Suppression{Channel: rc.d.Channel, Address: rc.d.Address,
		Reason: "unsubscribe", ContactID: rc.d.ContactID, CreatedAt: now}); err != nil {
		a.log.Error("unsubscribe: suppress address", "delivery_id", rc.d.ID, "err", err)
		c.String(http.StatusServiceUnavailable, "could not unsubscribe; please try again")
		return
	}
	a.log.Info("contact unsubscribed", "delivery_id", rc.d.ID)
	a.optedOut(c.Request.Context(), rc.d.ContactID, rc.d.Channel, "unsubscribe")
	a.pages.render(c, http.StatusOK, "message", messageView{Lang: rc.lang, Title: rc.ui.UnsubDoneTitle,
		Heading: rc.ui.UnsubDoneTitle, Body: rc.ui.UnsubDone})
}

// loadUnsubscribe resolves the token like the reply page, but an expired
// link still unsubscribes: an old email must keep working for that.
func (a *API) loadUnsubscribe(c *gin.Context) *replyContext {
	token := c.Param("token")
	u, lang := uiFor(c.GetHeader("Accept-Language"))
	d, err := a.cfg.Store.GetDeliveryByToken(c.Request.Context(), token)
	if err != nil {
		status := http.StatusNotFound
		if !errors.Is(err, store.ErrNotFound) {
			a.log.Error("unsubscribe: load delivery", "err", err)
			status = http.StatusServiceUnavailable
		}
		a.pages.render(c, status, "message", messageView{Lang: lang, Title: u.NotFoundTitle, Heading: u.NotFoundTitle, Body: u.NotFoundBody})
		return nil
	}
	u, lang = uiFor(d.Locale)
	return &replyContext{d: d, ui: u, lang: lang}
}
