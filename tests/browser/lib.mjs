// Shared by the browser tests: the server under test (started by scripts/browser-tests.sh,
// which passes its URL, data directory and setup link in the environment), Chromium, and
// screenshots.

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with scripts/browser-tests.sh`);
  return value;
}

/** The console's base URL, e.g. http://127.0.0.1:41234 */
export const SERVER_URL = required("BROWSER_TEST_URL");
/** The one-time setup link the server printed at start. */
export const SETUP_LINK = required("BROWSER_TEST_SETUP_LINK");
/** The `keygate` binary, and the server's data directory (for `keygate admin create`). */
export const BROWSER_TEST_KEYGATE = required("BROWSER_TEST_KEYGATE");
export const DATA_DIR = required("BROWSER_TEST_DATA_DIR");
/** keygate's own node client (`keygate-node`), to enrol machines; optional. */
export const NODE_BIN = process.env.BROWSER_TEST_NODE;
/** Where screenshots go (gitignored). */
export const SCREENSHOTS = process.env.BROWSER_TEST_SCREENSHOTS ??
  path.resolve(import.meta.dirname, "../../test-artifacts/screenshots");

export const PASSWORD = "correct horse battery staple";

/** The widths every page is photographed at. */
export const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1366, height: 900 },
};

/** Debian's Chromium, headless, with a fresh profile; nothing is downloaded. */
export async function launch() {
  const profile = mkdtempSync(path.join(tmpdir(), "keygate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: VIEWPORTS.desktop,
  });
  return {
    context,
    /** Forgets every cookie: the next page starts signed out. */
    async signOutEverywhere() {
      await context.clearCookies();
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves `NAME-phone.png` and `NAME-desktop.png` of the page as it is now. */
export async function screenshots(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const original = page.viewportSize();
  for (const [label, size] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(size);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(original);
}

/** Runs `keygate admin create NAME --password-stdin` against the server's admin socket. */
export function createAdminWithCli(name, password) {
  return execFileSync(BROWSER_TEST_KEYGATE, ["--data-dir", DATA_DIR, "admin", "create", name, "--password-stdin"], {
    input: `${password}\n`,
    encoding: "utf8",
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KEYGATE_"))),
  });
}

/** Signs in on the sign-in page. */
export async function signIn(page, name, password) {
  await page.goto(`${SERVER_URL}/console/sign-in`);
  await page.getByLabel("Admin name").fill(name);
  await page.getByLabel("Password").fill(password);
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Sign in" }).click()]);
}

/** Enrols a machine called `hostname` with `authkey` and keeps it connected until killed. */
export function startNode(authkey, hostname) {
  const child = spawn(NODE_BIN, ["up", "--login-server", SERVER_URL, "--authkey", authkey, "--hostname", hostname, "--stay"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  child.on("error", (e) => { throw e; });
  return child;
}
