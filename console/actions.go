package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

type publishData struct {
	App    string
	Kind   string
	File   string
	Result *server.PublishResult
	// Refused is the server's refusal, with the gate's whole answer.
	Refused *server.PublishError
	// Problem is a refusal of the form itself (no file, wrong
	// confirmation), before anything was checked.
	Problem string
}

// GateRows returns the gate summary of the result or the refusal.
func (d publishData) Gate() *check.GateSummary {
	switch {
	case d.Result != nil:
		return d.Result.Gate
	case d.Refused != nil:
		return d.Refused.Gate
	}
	return nil
}

func (c *Console) handlePublishPage(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	c.render(w, r, http.StatusOK, "publish", &page{Title: app + ": publish", App: app, Tab: "publish", Session: s,
		Data: publishData{App: app, Kind: "manifest"}})
}

// handlePublish uploads a signed root or manifest through the server's
// publish path (PublishRoot, PublishManifest: trust, the drop gate and
// the publish gate decide), and shows the whole answer. Forcing needs the
// box ticked and the app id typed as confirmation.
func (c *Console) handlePublish(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	kind := r.PostFormValue("kind")
	d := publishData{App: app, Kind: kind}
	show := func(status int) {
		c.render(w, r, status, "publish", &page{Title: app + ": publish", App: app, Tab: "publish", Session: s, Data: d})
	}
	if kind != "root" && kind != "manifest" {
		d.Kind, d.Problem = "manifest", "Choose what the file is: a root or a manifest."
		show(http.StatusBadRequest)
		return
	}
	force := r.PostFormValue("force") == "1"
	forceUnpin := r.PostFormValue("force_unpin") == "1"
	if (force || forceUnpin) && strings.TrimSpace(r.PostFormValue("confirm")) != app {
		d.Problem = "To force a publication, type the app id (" + app + ") in the confirmation box. Nothing was uploaded."
		show(http.StatusBadRequest)
		return
	}
	f, hdr, err := r.FormFile("envelope")
	if err != nil {
		d.Problem = "Choose the signed " + kind + " file (the envelope 'pinset sign' wrote)."
		show(http.StatusBadRequest)
		return
	}
	defer f.Close()
	d.File = hdr.Filename
	b, err := trust.ReadEnvelope(f)
	var res *server.PublishResult
	if err == nil {
		if kind == "root" {
			res, err = c.srv.PublishRoot(r.Context(), app, b)
		} else {
			res, err = c.srv.PublishManifest(r.Context(), app, b, server.PublishOptions{Force: force, ForceUnpin: forceUnpin})
		}
	}
	if err != nil {
		var pe *server.PublishError
		if !errors.As(err, &pe) {
			pe = &server.PublishError{Status: http.StatusBadRequest, Code: "malformed", Err: err}
			if errors.Is(err, trust.ErrTooLarge) {
				pe.Status, pe.Code = http.StatusRequestEntityTooLarge, "too_large"
			}
		}
		if pe.Status >= 500 {
			c.internalError(w, r, s, err)
			return
		}
		d.Refused = pe
		c.audit(r.Context(), s, "publish", "app", app, "kind", kind, "outcome", "refused", "code", pe.Code,
			"force", force, "force_unpin", forceUnpin)
		show(pe.Status)
		return
	}
	d.Result = res
	c.audit(r.Context(), s, "publish", "app", app, "kind", kind, "outcome", "published", "version", res.Version,
		"changed", res.Changed, "forced", res.Forced, "unpinned", len(res.Unpinned))
	show(http.StatusOK)
}

// handleRotationAction advances or aborts a plan through the server's
// rotation functions (StepRotation with advance, AbortRotation).
func (c *Console) handleRotationAction(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		c.notFound(w, r, s, "No such rotation plan.")
		return
	}
	rec, err := c.st.Plan(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		c.notFound(w, r, s, "No such rotation plan.")
		return
	}
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	r.SetPathValue("app", rec.App)
	var st *server.PlanStatus
	action := r.PathValue("action")
	switch action {
	case "advance":
		st, err = c.srv.StepRotation(r.Context(), id, true)
	case "abort":
		if strings.TrimSpace(r.PostFormValue("confirm")) != strconv.FormatInt(id, 10) {
			c.rotationPage(w, r, s, http.StatusBadRequest, "", "To abort plan "+strconv.FormatInt(id, 10)+", type its number in the confirmation box. Nothing was changed.")
			return
		}
		st, err = c.srv.AbortRotation(r.Context(), id)
	default:
		c.notFound(w, r, s, "No such action.")
		return
	}
	if err != nil {
		var re *server.RotationError
		if errors.As(err, &re) && re.Status < 500 {
			c.audit(r.Context(), s, "rotation-"+action, "app", rec.App, "plan", id, "outcome", "refused", "code", re.Code)
			c.rotationPage(w, r, s, re.Status, "", err.Error())
			return
		}
		c.internalError(w, r, s, err)
		return
	}
	c.audit(r.Context(), s, "rotation-"+action, "app", rec.App, "plan", id, "outcome", "done", "state", string(st.State))
	c.rotationPage(w, r, s, http.StatusOK, "Plan "+strconv.FormatInt(id, 10)+": "+action+" done; state "+string(st.State)+".", "")
}

// handleRevoke revokes an admin token (store.RevokeToken, as 'pinset
// token revoke' does) and ends its console sessions.
func (c *Console) handleRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PostFormValue("name")
	err := c.st.RevokeToken(r.Context(), name, c.now())
	if errors.Is(err, store.ErrNotFound) {
		c.tokensPage(w, r, s, http.StatusNotFound, "", "No live token named "+strconv.Quote(name)+".")
		return
	}
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	ended := c.sessions.dropToken(name)
	c.audit(r.Context(), s, "revoke-token", "revoked", name, "sessions_ended", ended)
	if name == s.token {
		c.setCookie(w, r, SessionCookie, "", Prefix, time.Time{})
		http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		return
	}
	c.tokensPage(w, r, s, http.StatusOK, "Token "+strconv.Quote(name)+" revoked; its console sessions ended.", "")
}
