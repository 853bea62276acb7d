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
/** The folder with the official `tailscale` and `tailscaled`: when set (scripts/browser-tests.sh
 * sets it and runs everything in a loopback-only network namespace), machines are enrolled by
 * the official client instead of keygate-node. */
export const TSBIN = process.env.BROWSER_TEST_TSBIN;
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

/** Enrols a machine called `hostname` with `authkey` and keeps it connected until killed:
 * with the official tailscaled when TSBIN is set, else with keygate-node. */
export function startNode(authkey, hostname) {
  if (TSBIN) return startTailscaled(authkey, hostname);
  const child = spawn(NODE_BIN, ["up", "--login-server", SERVER_URL, "--authkey", authkey, "--hostname", hostname, "--stay"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  child.on("error", (e) => { throw e; });
  return child;
}

/** The official tailscaled with its own state, plus `tailscale up` in the background (it waits
 * for approval). Only ever run inside the loopback-only namespace scripts/browser-tests.sh makes. */
function startTailscaled(authkey, hostname) {
  const dir = mkdtempSync(path.join(tmpdir(), "kg-tsd-"));
  const socket = path.join(dir, "tsd.sock");
  const env = {
    ...process.env,
    TS_ASSUME_NETWORK_UP_FOR_TEST: "1", // a namespace with only lo looks offline otherwise
    TS_PANIC_IF_HIT_MAIN_CONTROL: "1", // crash rather than ever contact Tailscale's servers
    TS_NO_LOGS_NO_SUPPORT: "true",
    TS_DEBUG_USE_DERP_HTTP: "1",
  };
  const daemon = spawn(path.join(TSBIN, "tailscaled"), [
    "--tun=userspace-networking", "--no-logs-no-support", "--port=0",
    `--socket=${socket}`, `--statedir=${dir}`, `--state=${path.join(dir, "tailscaled.state")}`,
  ], { env, stdio: "ignore" });
  daemon.on("error", (e) => { throw e; });
  let up;
  const started = Date.now();
  const tryUp = () => {
    try {
      execFileSync("test", ["-S", socket]);
    } catch {
      if (Date.now() - started < 10_000) return setTimeout(tryUp, 100);
      throw new Error("tailscaled's socket never appeared");
    }
    up = spawn(path.join(TSBIN, "tailscale"), [
      `--socket=${socket}`, "up", `--login-server=${SERVER_URL}`, `--authkey=${authkey}`,
      `--hostname=${hostname}`, "--timeout=120s",
    ], { env, stdio: "ignore" });
    up.on("error", () => {});
  };
  tryUp();
  return {
    kill() {
      up?.kill("SIGTERM");
      daemon.kill("SIGTERM");
      setTimeout(() => rmSync(dir, { recursive: true, force: true }), 1000).unref();
    },
  };
}
