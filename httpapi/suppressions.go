package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/internal/phone"
	"github.com/npsgate/npsgate/store"
)

type suppressionJSON struct {
	Channel   string     `json:"channel"`
	Address   string     `json:"address"`
	Reason    string     `json:"reason,omitempty"`
	ContactID string     `json:"contact_id,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// addSuppression puts an address on the manual suppression list: no
// survey goes to it on that channel, whoever it is saved for.
func (a *API) addSuppression(c *gin.Context) {
	var in suppressionJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	addr, err := a.suppressionAddress(in.Channel, in.Address)
	if err != nil {
		a.fail(c, err)
		return
	}
	if in.Reason == "" {
		in.Reason = "manual"
	}
	sp := store.Suppression{Channel: in.Channel, Address: addr, Reason: in.Reason, ContactID: in.ContactID, CreatedAt: a.cfg.Now()}
	if err := a.cfg.Store.AddSuppression(c.Request.Context(), sp); err != nil {
		a.fail(c, err)
		return
	}
	// Reminders to the address that have not gone out end now, so the
	// delivery views say so at once (the sender would drop them when due).
	if _, err := a.cfg.Store.CancelAddressReminders(c.Request.Context(), sp.Channel, sp.Address, "suppressed: "+sp.Reason); err != nil {
		a.log.Error("suppression: reminders not cancelled (the sender drops them when due)", "err", err)
	}
	c.JSON(http.StatusCreated, suppressionJSON{Channel: sp.Channel, Address: sp.Address, Reason: sp.Reason, ContactID: sp.ContactID, CreatedAt: &sp.CreatedAt})
}

func (a *API) suppressionAddress(channel, address string) (string, error) {
	if _, err := a.cfg.Channels.Get(channel); err != nil {
		return "", badField("channel", "unknown channel %q (have %v)", channel, a.cfg.Channels.Names())
	}
	switch channel {
	case "email":
		if !validEmail(address) {
			return "", badField("address", "%q is not an email address", address)
		}
	case "sms", "whatsapp":
		p, err := phone.Normalize(address, a.cfg.PhoneRegion)
		if err != nil {
			return "", badField("address", "%v", err)
		}
		return p, nil
	default:
		if address == "" {
			return "", badField("address", "address is required")
		}
	}
	return address, nil
}

func (a *API) listSuppressions(c *gin.Context) {
	limit, err := intParam(c, "limit", 100, 1, 1000)
	if err != nil {
		a.fail(c, err)
		return
	}
	list, err := a.cfg.Store.ListSuppressions(c.Request.Context(), c.Query("channel"), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]suppressionJSON, 0, len(list))
	for i := range list {
		sp := list[i]
		out = append(out, suppressionJSON{Channel: sp.Channel, Address: sp.Address, Reason: sp.Reason, ContactID: sp.ContactID, CreatedAt: &sp.CreatedAt})
	}
	c.JSON(http.StatusOK, gin.H{"suppressions": out})
}

func (a *API) removeSuppression(c *gin.Context) {
	addr, err := a.suppressionAddress(c.Param("channel"), c.Param("address"))
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.cfg.Store.RemoveSuppression(c.Request.Context(), c.Param("channel"), addr); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("suppression")
		}
		a.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
