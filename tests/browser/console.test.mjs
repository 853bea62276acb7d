// The admin console in a real browser, against a real `keygate serve`, in order: set up the
// first admin with the printed link, add a second with the CLI, generate every kind of key
// and see each secret exactly once, revoke one, change settings, create and revoke an API
// token, check that a form without its CSRF token is refused, edit the ACL policy, and finally that wrong
// passwords lock sign-in (last, since it locks this client's address too). Each page is
// photographed at phone and desktop widths into test-artifacts/screenshots/.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import {
  NODE_BIN, PASSWORD, SERVER_URL, TSBIN, SETUP_LINK, createAdminWithCli, launch, screenshots, signIn, startNode,
} from "./lib.mjs";

let browser;
let page;
/** Script errors and CSP violations seen during the current test. */
const problems = [];

before(async () => {
  browser = await launch();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  // Any script error or CSP violation fails the test it happened in.
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) {
      problems.push(`browser console: ${m.text()}`);
    }
  });
});

afterEach(() => {
  assert.deepEqual(problems.splice(0), []);
});

after(async () => {
  await browser?.close();
});

/** The text of the secret box, or null when the page shows none. */
async function shownSecret(id) {
  const box = page.locator(`#${id}`);
  return (await box.count()) ? (await box.textContent()).trim() : null;
}

test("the setup link creates the first admin and signs in", async () => {
  const response = await page.goto(SETUP_LINK);
  assert.equal(response.status(), 200);
  await page.getByLabel("Admin name").fill("admin");
  await page.getByLabel("Password", { exact: true }).fill("too short");
  await page.getByLabel("Password, again").fill("different");
  await page.getByRole("button", { name: "Create admin and sign in" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator("#password-error").textContent(), /too short/);
  assert.match(await page.locator("#confirm-error").textContent(), /differ/);
  await screenshots(page, "setup-errors");

  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Password, again").fill(PASSWORD);
  await Promise.all([page.waitForURL(/\/console\/keys/), page.getByRole("button", { name: "Create admin and sign in" }).click()]);
  assert.match(await page.locator("main").textContent(), /Welcome!/);
  assert.match(await page.locator("header").textContent(), /Signed in as\s+admin/);

  // The link is used up.
  const again = await page.goto(SETUP_LINK);
  assert.equal(again.status(), 403);
  await screenshots(page, "setup-link-used");
});

test("a second admin created with `keygate admin create --password-stdin` signs in", async () => {
  const out = createAdminWithCli("ops", PASSWORD);
  assert.match(out, /created console admin ops/);
  await browser.signOutEverywhere();
  await page.goto(`${SERVER_URL}/console/sign-in`);
  await screenshots(page, "sign-in");
  await signIn(page, "ops", PASSWORD);
  assert.match(page.url(), /\/console\/machines$/);
  assert.match(await page.locator("header").textContent(), /Signed in as\s+ops/);
  await screenshots(page, "machines-empty");
});

/** Fills the "Generate auth key" form; `options` as in the tests below. */
async function generateKey(options) {
  await page.goto(`${SERVER_URL}/console/keys`);
  await page.getByLabel(options.reusable ? "Reusable" : "One-off").check();
  if (options.limit) await page.getByLabel("Usage limit").fill(String(options.limit));
  if (options.ephemeral) await page.getByLabel(/Ephemeral/).check();
  if (options.preapproved) await page.getByLabel(/Pre-approved/).check();
  if (options.tags) await page.getByLabel("Tags").fill(options.tags);
  await page.getByLabel("Expires after (days)").fill(String(options.days ?? 90));
  await page.getByLabel("Description").fill(options.description);
  await Promise.all([page.waitForURL(/shown=/), page.getByRole("button", { name: "Generate key" }).click()]);
}

test("each kind of key is generated and its secret shown exactly once", async () => {
  const kinds = [
    { description: "laptop", reusable: false },
    { description: "ci runners", reusable: true, limit: 5, days: 30 },
    { description: "containers", reusable: true, ephemeral: true, days: 7 },
    { description: "servers", reusable: false, preapproved: true, tags: "tag:server, tag:prod" },
  ];
  for (const [i, kind] of kinds.entries()) {
    await generateKey(kind);
    const secret = await shownSecret("new-key-secret");
    assert.match(secret, /^keygate-auth-[A-Za-z0-9]+-[0-9a-f]{64}$/, kind.description);
    const command = await shownSecret("new-key-command");
    assert.equal(command, `tailscale up --login-server ${SERVER_URL} --authkey ${secret}`);
    const cache = (await page.request.get(page.url())).headers()["cache-control"];
    assert.equal(cache, "no-store");
    if (i === 0) await screenshots(page, "keys-secret-shown");

    await page.reload();
    assert.equal(await shownSecret("new-key-secret"), null, `${kind.description}: gone after a reload`);
    assert.ok(await page.locator("#secret-gone").isVisible());
    assert.ok(!(await page.content()).includes(secret), "not anywhere on the page");
  }
  const valid = page.locator("#valid-keys");
  for (const text of ["laptop", "ci runners", "containers", "servers", "Reusable", "Ephemeral", "Pre-approved", "tag:prod", "0 / 5"]) {
    assert.match(await valid.textContent(), new RegExp(text), text);
  }
  await screenshots(page, "keys");
});

test("bad key values come back next to their fields", async () => {
  await page.goto(`${SERVER_URL}/console/keys`);
  await page.getByLabel("Tags").fill("server");
  await page.getByLabel("Expires after (days)").fill("120");
  await page.getByRole("button", { name: "Generate key" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator("#tags-error").textContent(), /Invalid tag "server"/);
  assert.match(await page.locator("#expiry_days-error").textContent(), /from 1 to 90/);
  assert.equal(await page.getByLabel("Tags").getAttribute("aria-invalid"), "true");
  await screenshots(page, "keys-form-errors");
});

test("a revoked key moves to 'Recently revoked or expired'", async () => {
  await page.goto(`${SERVER_URL}/console/keys`);
  const row = page.locator("#valid-keys tr", { hasText: "laptop" });
  const id = (await row.getAttribute("data-key-id"));
  await row.getByRole("link", { name: `Revoke key ${id}` }).click();
  await page.waitForURL(/\/revoke$/);
  assert.match(await page.locator("h1").textContent(), new RegExp(`Revoke key ${id}\\?`));
  await screenshots(page, "keys-revoke-confirm");
  await Promise.all([page.waitForURL(/notice=revoked/), page.getByRole("button", { name: "Revoke key" }).click()]);
  assert.equal(await page.locator(`#valid-keys tr[data-key-id="${id}"]`).count(), 0);
  const revoked = page.locator(`#invalid-keys tr[data-key-id="${id}"]`);
  assert.match(await revoked.textContent(), /Revoked/);
  await screenshots(page, "keys-after-revoke");
});

test("settings are changed and kept", async () => {
  await page.goto(`${SERVER_URL}/console/settings`);
  await page.getByLabel(/Require approval of new machines/).check();
  await page.getByLabel("Node key expiry (days)").fill("30");
  await Promise.all([page.waitForURL(/notice=saved/), page.getByRole("button", { name: "Save settings" }).click()]);
  await page.goto(`${SERVER_URL}/console/settings`);
  assert.ok(await page.getByLabel(/Require approval of new machines/).isChecked());
  assert.equal(await page.getByLabel("Node key expiry (days)").inputValue(), "30");

  await page.getByLabel("Node key expiry (days)").fill("365");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator("#node_key_expiry_days-error").textContent(), /from 1 to 180/);
  await screenshots(page, "settings-error");
});

test("an API token is shown once and revoked", async () => {
  await page.goto(`${SERVER_URL}/console/settings`);
  await page.locator("#token_description").fill("terraform");
  await Promise.all([page.waitForURL(/shown=/), page.getByRole("button", { name: "Create token" }).click()]);
  const secret = await shownSecret("new-token-secret");
  assert.match(secret, /^keygate-api-[A-Za-z0-9]+-[0-9a-f]{64}$/);
  // The token works against the REST API.
  const api = await page.request.get(`${SERVER_URL}/api/v2/tailnet/-/keys`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(api.status(), 200);
  await screenshots(page, "settings-token-shown");
  await page.reload();
  assert.equal(await shownSecret("new-token-secret"), null);

  const row = page.locator("#tokens tr", { hasText: "terraform" });
  const id = await row.getAttribute("data-token-id");
  await row.getByRole("link", { name: `Revoke token ${id}` }).click();
  await Promise.all([page.waitForURL(/token-revoked/), page.getByRole("button", { name: "Revoke token" }).click()]);
  assert.match(await page.locator(`#tokens tr[data-token-id="${id}"]`).textContent(), /Revoked/);
  const refused = await page.request.get(`${SERVER_URL}/api/v2/tailnet/-/keys`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(refused.status(), 401);
  await screenshots(page, "settings");
});

test("a form posted without its CSRF token is refused", async () => {
  await page.goto(`${SERVER_URL}/console/keys`);
  const before = await page.locator("#valid-keys tbody tr").count();
  await page.evaluate(() => document.querySelector('#generate-form input[name="csrf"]').remove());
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/console/keys") && r.request().method() === "POST"),
    page.getByRole("button", { name: "Generate key" }).click(),
  ]);
  assert.equal(response.status(), 403);
  await page.waitForLoadState("load");
  assert.match(await page.locator("#error-message").textContent(), /security token/);
  await screenshots(page, "csrf-refused");
  await page.goto(`${SERVER_URL}/console/keys`);
  assert.equal(await page.locator("#valid-keys tbody tr").count(), before, "no key was made");
});

test("the machines page shows the tailnet and refreshes by itself", async () => {
  await page.goto(`${SERVER_URL}/console/machines`);
  assert.match(await page.locator("#machines-summary").textContent(), /machines? · \d+ online/);
  // The live endpoint answers for this session.
  const live = await page.request.get(`${SERVER_URL}/console/live`);
  assert.equal(live.status(), 200);
  const state = await live.json();
  assert.equal(typeof state.seq, "number");
  assert.equal(await page.locator("#machines-panel").getAttribute("data-seq"), String(state.seq));
});

test("a new machine appears by itself, is approved, changed, then deleted", { skip: !NODE_BIN && !TSBIN && "no node client" }, async () => {
  // Device approval is on (set above): a machine enrolled with a plain key waits.
  await generateKey({ description: "web", reusable: false });
  const key = await shownSecret("new-key-secret");
  await page.goto(`${SERVER_URL}/console/machines`);
  const node = startNode(key, "web-1");
  try {
    // No reload: the live refresh brings the row in.
    const row = page.locator('tr[data-node-name="web-1"]');
    await row.waitFor({ timeout: 20_000 });
    await page.locator('[data-live="pending"]:not([hidden])').waitFor({ timeout: 10_000 });
    assert.match(await row.textContent(), /Needs approval/);
    await screenshots(page, "machines-pending");

    await Promise.all([page.waitForURL(/notice=approved/), row.getByRole("button", { name: "Approve web-1" }).click()]);
    assert.match(await page.locator('tr[data-node-name="web-1"]').textContent(), /Approved/);

    await Promise.all([page.waitForURL(/notice=expiry-off/), page.getByRole("button", { name: "Disable key expiry of web-1" }).click()]);
    assert.match(await page.locator('tr[data-node-name="web-1"]').textContent(), /Expiry disabled/);
    await page.getByText("Edit tags").click();
    await page.getByRole("textbox", { name: "Tags of web-1" }).fill("server");
    await page.getByRole("button", { name: "Save tags" }).click();
    await page.waitForLoadState("load");
    assert.match(await page.locator("#tags-1-error, [id^=tags-][id$=-error]").first().textContent(), /Invalid tag/);
    await screenshots(page, "machines");

    await page.locator('tr[data-node-name="web-1"]').getByRole("link", { name: "Delete web-1" }).click();
    await page.waitForURL(/\/delete$/);
    await screenshots(page, "machines-delete-confirm");
    await Promise.all([page.waitForURL(/notice=deleted/), page.getByRole("button", { name: "Delete machine" }).click()]);
    assert.equal(await page.locator('tr[data-node-name="web-1"]').count(), 0);
  } finally {
    node.kill("SIGTERM");
  }
});

const BAD_POLICY = `{
  "groups": {"group:eng": ["alice"]},
  "acls": [
    {"action": "accept", "src": ["group:ops"], "dst": ["*:*"]},
  ],
}
`;
const GOOD_POLICY = `{
  // Engineers reach the web servers; only they may tag machines tag:web.
  "groups": {"group:eng": ["alice"]},
  "tagOwners": {"tag:web": ["group:eng"]},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:443"]},
  ],
}
`;

test("the policy editor shows errors at their line and saves a valid policy", async () => {
  await page.goto(`${SERVER_URL}/console/policy`);
  assert.equal(await page.locator('.mainnav a[aria-current="page"]').textContent(), "Policy");
  assert.match(await page.getByRole("textbox", { name: "Policy file" }).inputValue(), /"acls"/);
  assert.equal(await page.locator("#policy-revision").textContent(), "0");
  await screenshots(page, "policy");

  await page.getByRole("textbox", { name: "Policy file" }).fill(BAD_POLICY);
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator("#policy-problems").textContent(), /line 4, column \d+: .*group:ops/);
  assert.equal(await page.getByRole("textbox", { name: "Policy file" }).inputValue(), BAD_POLICY, "the text as typed");
  assert.equal(await page.locator("#policy-gutter li.bad").textContent(), "4");
  // The problem's link puts the caret on line 4.
  await page.locator("#policy-problems a").first().click();
  const caretLine = await page.evaluate(() => {
    const t = document.getElementById("policy");
    return t.value.slice(0, t.selectionStart).split("\n").length;
  });
  assert.equal(caretLine, 4);
  await screenshots(page, "policy-errors");

  await page.getByRole("textbox", { name: "Policy file" }).fill(GOOD_POLICY);
  await Promise.all([page.waitForURL(/saved=1/), page.getByRole("button", { name: "Save policy" }).click()]);
  assert.match(await page.locator("#policy-notice").textContent(), /Policy saved \(revision 1\)/);
  assert.equal(await page.getByRole("textbox", { name: "Policy file" }).inputValue(), GOOD_POLICY);
  await screenshots(page, "policy-saved");
});

test("the keys page offers the policy's tags and refuses one the user does not own", async () => {
  await page.goto(`${SERVER_URL}/console/keys`);
  assert.equal(await page.locator('#policy-tags option[value="tag:web"]').count(), 1);
  await page.getByLabel("Tags").fill("tag:web");
  await page.getByLabel("Description").fill("web servers");
  await page.getByRole("button", { name: "Generate key" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator("#tags-error").textContent(), /tag:web/);
  await screenshots(page, "keys-tag-not-owned");
});

test("sign-out ends the session", async () => {
  await page.goto(`${SERVER_URL}/console/keys`);
  await Promise.all([page.waitForURL(/signed-out/), page.getByRole("button", { name: "Sign out" }).click()]);
  await page.goto(`${SERVER_URL}/console/keys`);
  assert.match(page.url(), /\/console\/sign-in\?next=/);
});

test("wrong passwords show an error and the sixth attempt is locked out", async () => {
  await browser.signOutEverywhere();
  for (let attempt = 1; attempt <= 5; attempt++) {
    await signIn(page, "admin", "not the password");
    assert.match(await page.locator("#sign-in-error").textContent(), /Wrong name or password\./, `attempt ${attempt}`);
    if (attempt === 1) await screenshots(page, "sign-in-wrong-password");
  }
  await signIn(page, "admin", PASSWORD);
  assert.match(await page.locator("#sign-in-error").textContent(), /sign-in is locked\. Try again in 15 minutes\./);
  assert.match(page.url(), /\/console\/sign-in$/);
  await screenshots(page, "sign-in-locked");
});
