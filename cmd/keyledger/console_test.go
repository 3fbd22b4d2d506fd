package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestConsole drives the web console in headless Chromium against the real
// server: an admin enables keys and registers a developer, the developer
// creates a key and copies it once, the admin finds and revokes it, and the
// developer's page shows the revocation without a reload. Then an auditor
// sees no write buttons, and a phone-width screen does not scroll sideways.
func TestConsole(t *testing.T) {
	browserCtx := mustBrowser(t)
	m := MustRunMain(t, "", func(m *Main) { m.CheckpointEvery = 8 }) // the trail shows checkpoints
	url, root := m.HTTPURL()+"/", adminToken(t, m)
	const keyName = "payments ✓ prod.*>" // non-ASCII, wildcards and a dot

	admin := newTab(t, browserCtx)
	admin.do(chromedp.Navigate(url), chromedp.WaitVisible(css(`input[name=token]`)))
	admin.screenshot("sign-in")

	// A wrong key is refused with a plain message, and nothing else shows.
	admin.do(chromedp.SendKeys(css(`input[name=token]`), "kl_not_a_key"), chromedp.Click(css(`form.signin button[type=submit]`)))
	admin.waitText(`form.signin .alert`, "Your key was not accepted")
	admin.fill(`input[name=token]`, "")
	admin.signIn(url, root)

	var devName, devToken string
	t.Run("admin_sets_policy_and_registers_a_developer", func(t *testing.T) {
		admin.t = t
		admin.page("settings")
		field := func(name string) string { return `form.settings input[name=` + name + `]` }
		admin.fill(field("max_expiry"), "forever")
		admin.do(chromedp.Click(css(`form.settings button[type=submit]`)))
		admin.waitText(`.field[data-field=max_expiry] .field-error`, `max_expiry: "forever"`)
		if got := eval[string](admin, `document.querySelector('form.settings input[name=max_expiry]').getAttribute('aria-invalid')`); got != "true" {
			t.Fatalf("max_expiry aria-invalid = %q", got)
		}
		if s := api[struct {
			MaxExpiry string `json:"max_expiry"`
		}](t, m, root, "query.settings", `{}`); s.MaxExpiry != "P180D" {
			t.Fatalf("an invalid form changed max_expiry to %q", s.MaxExpiry)
		}
		admin.fill(field("max_expiry"), "P180D")
		admin.do(chromedp.Click(css(`#f-enabled`)), chromedp.Click(css(`form.settings button[type=submit]`)),
			chromedp.WaitNotVisible(css(`.field[data-field=max_expiry] .field-error`)))
		admin.waitText(`#toast`, "Settings saved: keys enabled")
		admin.screenshot("settings")

		admin.page("users")
		devName = "Zoë dev"
		admin.do(chromedp.SendKeys(css(`form.register input[name=name]`), devName), chromedp.Click(css(`form.register button[type=submit]`)))
		row := `tr[data-user-name="` + devName + `"]`
		admin.do(chromedp.WaitVisible(css(row)))
		admin.click(row + ` button[data-action=issue]`)
		admin.do(chromedp.WaitVisible(css(`dialog[data-dialog=issue] input[name=name]`)),
			chromedp.SendKeys(css(`dialog[data-dialog=issue] input[name=name]`), "laptop"),
			chromedp.Click(css(`dialog[data-dialog=issue] button[type=submit]`)),
			chromedp.WaitVisible(css(`dialog[data-dialog=token] textarea`)))
		devToken = admin.value(`dialog[data-dialog=token] textarea`)
		if !strings.HasPrefix(devToken, "kl_") {
			t.Fatalf("token dialog shows %q", devToken)
		}
		admin.do(chromedp.Click(css(`dialog[data-dialog=token] button.secondary`)), chromedp.WaitNotPresent(css(`dialog`)))
		admin.screenshot("users")
	})
	if devToken == "" {
		t.FailNow()
	}

	dev := newTab(t, browserCtx)
	var token string
	t.Run("developer_generates_a_key_and_copies_it", func(t *testing.T) {
		dev.t = t
		dev.signIn(url, devToken)
		if nav := dev.text(`#nav`); strings.Contains(nav, "Settings") || strings.Contains(nav, "All keys") || strings.Contains(nav, "Users") {
			t.Fatalf("a developer's navigation shows admin pages: %q", nav)
		}
		dev.do(chromedp.WaitVisible(css(`tr[data-key-name=laptop]`)))
		origin := strings.TrimSuffix(url, "/")
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.Run(dev.ctx, func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
				_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
					Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: origin})
				return chromedp.Void{}, err
			}); err != nil {
				t.Fatalf("grant %s: %v", name, err)
			}
		}
		dev.do(chromedp.Click(css(`[data-action=generate]`)),
			chromedp.WaitVisible(css(`dialog[data-dialog=issue] input[name=name]`)),
			chromedp.SendKeys(css(`dialog[data-dialog=issue] input[name=name]`), keyName),
			chromedp.SendKeys(css(`dialog[data-dialog=issue] input[name=scopes]`), "payments:write, payments:read"),
			chromedp.Click(css(`dialog[data-dialog=issue] button[type=submit]`)),
			chromedp.WaitVisible(css(`dialog[data-dialog=token] textarea`)))
		token = dev.value(`dialog[data-dialog=token] textarea`)
		if !strings.HasPrefix(token, "kl_") {
			t.Fatalf("token dialog shows %q", token)
		}
		dev.waitText(`dialog[data-dialog=token] .warning`, "shown only this once")
		dev.do(chromedp.Click(css(`dialog[data-dialog=token] button.primary`)))
		dev.waitText(`dialog[data-dialog=token] .copy-status`, "Copied to the clipboard")
		if got := eval[string](dev, `navigator.clipboard.readText()`); got != token {
			t.Fatalf("the clipboard holds %q, want the token", got)
		}
		dev.screenshot("my-keys-token-dialog")
		// Escape closes the dialog, which forgets the token.
		dev.do(chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(css(`dialog`)))
		if n := eval[int](dev, `document.body.textContent.split('`+token+`').length - 1`); n != 0 {
			t.Fatal("the token is still in the page after its dialog closed")
		}
		row := `tr[data-key-name="` + keyName + `"]`
		dev.do(chromedp.WaitVisible(css(row)))

		// The same name again: the dialog stays open and says why, in words.
		dev.do(chromedp.Click(css(`[data-action=generate]`)),
			chromedp.WaitVisible(css(`dialog[data-dialog=issue] input[name=name]`)),
			chromedp.SendKeys(css(`dialog[data-dialog=issue] input[name=name]`), keyName))
		// Tab never leaves the dialog.
		for range 12 {
			dev.do(chromedp.KeyEvent(kb.Tab))
			if !eval[bool](dev, `!!document.activeElement.closest('dialog[data-dialog=issue]')`) {
				t.Fatal("Tab moved focus out of the open dialog")
			}
		}
		dev.do(chromedp.Click(css(`dialog[data-dialog=issue] button[type=submit]`)))
		dev.waitText(`dialog[data-dialog=issue] .alert`, "This clashes with the current state. name:")
		dev.do(chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(css(`dialog`)))
		if got := eval[string](dev, `document.activeElement.dataset.action || ''`); got != "generate" {
			t.Fatalf("after Escape, focus is on %q, want the Generate button", got)
		}

		dev.waitText(row+` [data-col=status]`, "active")
		eval[bool](dev, `window.__notReloaded = true`)
		dev.screenshot("my-keys")
	})
	if token == "" {
		t.FailNow()
	}

	t.Run("admin_finds_and_revokes_it_and_the_developer_sees_it_live", func(t *testing.T) {
		admin.t, dev.t = t, t
		admin.page("all-keys")
		admin.do(chromedp.SendKeys(css(`form[role=search] input[name=q]`), "✓ prod.*"),
			chromedp.Click(css(`form[role=search] button[type=submit]`)))
		row := `tr[data-key-name="` + keyName + `"]`
		// Only that key: not laptop, bootstrap or the admin's others.
		admin.waitText(`.toolbar .count`, "1 key shown")
		admin.do(chromedp.WaitVisible(css(row)))
		admin.click(row + ` input[data-select]`)
		admin.do(chromedp.Click(css(`[data-action=revoke-selected]`)),
			chromedp.WaitVisible(css(`dialog[data-dialog=revoke] input[name=reason]`)),
			chromedp.SendKeys(css(`dialog[data-dialog=revoke] input[name=reason]`), "leaked in a log"),
			chromedp.Click(css(`dialog[data-dialog=revoke] button[type=submit]`)),
			chromedp.WaitVisible(css(row+`[data-status=revoked]`)))
		admin.screenshot("all-keys")

		if _, res := verifyHTTP(t, m, `{"key":"`+token+`"}`, ""); res.Valid || res.Code != "revoked" {
			t.Fatalf("verify after the console revoked it: %+v", res)
		}
		dev.do(chromedp.WaitVisible(css(row + `[data-status=revoked]`)))
		if !eval[bool](dev, `window.__notReloaded === true`) {
			t.Fatal("the developer's page reloaded")
		}
		dev.waitText(`#live`, "Live")
		// An admin's revocation the developer cannot undo: no Regenerate.
		dev.waitText(row, "Revoked by an admin: leaked in a log")
		if eval[bool](dev, `!!document.querySelector(`+strconv.Quote(row+` button[aria-label^=Regenerate]`)+`)`) {
			t.Fatal("the developer is offered Regenerate on a key an admin revoked")
		}

		// The admin regenerating the revoked key shows a new token, once, that works.
		admin.click(row + ` button[aria-label^=Regenerate]`)
		admin.do(chromedp.WaitVisible(css(`dialog[data-dialog=token] textarea`)))
		fresh := admin.value(`dialog[data-dialog=token] textarea`)
		if fresh == token || !strings.HasPrefix(fresh, "kl_") {
			t.Fatalf("regenerated token %q", fresh)
		}
		admin.do(chromedp.KeyEvent(kb.Escape), chromedp.WaitVisible(css(row+`[data-status=active]`)))
		if _, res := verifyHTTP(t, m, `{"key":"`+fresh+`"}`, ""); !res.Valid {
			t.Fatalf("verify the regenerated token: %+v", res)
		}
		dev.do(chromedp.WaitVisible(css(row + `[data-status=active]`)))
	})

	t.Run("admin_reads_the_audit_page", func(t *testing.T) {
		admin.t = t
		// A checkpoint (every 8 events here) covers what was done above.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			page := api[struct {
				Entries []struct{} `json:"entries"`
			}](t, m, root, "query.audit", `{"action":"audit.checkpoint","limit":1}`)
			if len(page.Entries) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no checkpoint in the trail after 10 s")
			}
		}
		admin.page("audit")
		admin.waitText(`main h1`, "Suspicious use")
		// The trail holds the revocation made above, with its reason.
		admin.do(chromedp.WaitVisible(css(`table.audit tbody tr`)))
		admin.waitText(`table.audit`, "leaked in a log")
		// Who revoked it is named, with the ID in the cell's title.
		actor := eval[[]string](admin, `(() => { const c = [...document.querySelectorAll('table.audit tbody tr')].find((r) => r.textContent.includes('leaked in a log')).querySelector('td[data-label=Actor]'); return [c.textContent, c.title]; })()`)
		if actor[0] != "admin" || len(actor[1]) != 26 {
			t.Fatalf("the revocation's actor cell: %q", actor)
		}
		// Details read as the CLI shows them: a change as what changed, a
		// checkpoint by its tree size (its signed note is the title).
		detail := func(action string) []string {
			return eval[[]string](admin, `(() => { const r = [...document.querySelectorAll('table.audit tbody tr')].find((r) => r.querySelector('td[data-label=Action]').textContent === '`+action+`'); if (!r) return ['', '']; const c = r.querySelector('td[data-label=Detail]'); return [c.textContent, c.title]; })()`)
		}
		if got := detail("settings.changed"); !strings.Contains(got[0], "enabled: false → true") {
			t.Fatalf("the settings change's detail: %q", got)
		}
		if got := detail("audit.checkpoint"); !regexp.MustCompile(`^tree size \d+ signed$`).MatchString(got[0]) || !strings.Contains(got[1], "keyledger") {
			t.Fatalf("a checkpoint's detail: %q", got)
		}
		// Its key's trace tells the story, with the use per hour.
		keyID := eval[string](admin, `[...document.querySelectorAll('table.audit tbody tr')].find((r) => r.textContent.includes('leaked in a log')).querySelector('button[data-trace]').dataset.trace`)
		admin.click(`table.audit button[data-trace="` + keyID + `"]`)
		admin.waitText(`dialog[data-dialog=trace] ol.trace`, "key.revoked")
		admin.waitText(`dialog[data-dialog=trace] ol.trace`, "leaked in a log")
		admin.waitText(`dialog[data-dialog=trace]`, "Verifications per hour")
		admin.do(chromedp.KeyEvent(kb.Escape))
	})

	t.Run("deactivating_names_the_keys_and_signs_the_person_out", func(t *testing.T) {
		admin.t, dev.t = t, t
		admin.page("users")
		row := `tr[data-user-name="` + devName + `"]`
		admin.do(chromedp.WaitVisible(css(row)))
		admin.click(row + ` button[data-action=deactivate]`)
		// laptop (active) and the revoked payments key: both will be deleted.
		admin.waitText(`dialog[data-dialog=deactivate] p`, "all 2 of their keys will be deleted")
		admin.do(chromedp.Click(css(`dialog[data-dialog=deactivate] button.danger`)),
			chromedp.WaitVisible(css(row+` .badge.deleted`)))
		dev.waitText(`form.signin .alert`, "Your key stopped working")
	})

	t.Run("auditor_sees_no_write_buttons", func(t *testing.T) {
		u := api[struct {
			ID string `json:"user_id"`
		}](t, m, root, "cmd.user.register", `{"name":"audrey","kind":"person","roles":["auditor"]}`)
		k := api[struct {
			Token string `json:"token"`
		}](t, m, root, "cmd.key.issue", `{"owner":"`+u.ID+`","name":"audit"}`)
		aud := newTab(t, browserCtx)
		aud.signIn(url, k.Token)
		if nav := aud.text(`#nav`); strings.Contains(nav, "Settings") || strings.Contains(nav, "My keys") {
			t.Fatalf("an auditor's navigation: %q", nav)
		}
		writes := `[...document.querySelectorAll('main button, main input[type=checkbox][data-select]')]
			.filter((b) => b.offsetParent !== null && !['Search', 'Clear', 'Load more'].includes(b.textContent.trim()))
			.map((b) => b.textContent.trim() || b.outerHTML)`
		for _, page := range []struct{ route, rows string }{{"all-keys", "tr[data-key-id]"}, {"users", "tr[data-user-id]"}} {
			aud.page(page.route)
			aud.do(chromedp.WaitVisible(css(page.rows)))
			if n := eval[int](aud, `document.querySelectorAll('`+page.rows+`').length`); n < 3 {
				t.Fatalf("%s: the auditor sees %d rows", page.route, n)
			}
			if got := eval[[]string](aud, writes); len(got) != 0 {
				t.Fatalf("%s: the auditor sees write controls %q", page.route, got)
			}
		}
	})

	t.Run("phone_width_has_no_horizontal_scroll", func(t *testing.T) {
		phone := newTab(t, browserCtx)
		phone.do(chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile))
		phone.signIn(url, root)
		for _, route := range []string{"all-keys", "my-keys", "users", "settings"} {
			phone.page(route)
			phone.do(chromedp.Sleep(200 * time.Millisecond))
			if w := eval[[]int](phone, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); w[0] > w[1] {
				t.Errorf("%s at 375 px: page is %d px wide in a %d px window", route, w[0], w[1])
			}
		}
		phone.page("all-keys")
		phone.screenshot("phone-all-keys")
	})
}
