// The end-to-end harness: the real backend (`webtoon up --demo` on free
// ports, the built-in OpenID Connect issuer among them, a temporary data
// directory, web/dist as the frontend) and Debian's Chromium driven by
// playwright-core. Builds nothing: web/dist and the
// webtoon binary must exist (WEBTOON_BIN, default build/release/webtoon).
//
// Every wait is bounded. Whatever happens (a failed test, an exception,
// Ctrl-C, the watchdog) the backend's whole process group and the browser are
// stopped and the temporary directory removed.
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB_DIR = fileURLToPath(new URL('..', import.meta.url));
export const REPO_DIR = resolve(WEB_DIR, '..');
/** A relative path is taken from the current directory, else from the repository. */
function fromCwdOrRepo(p) {
  const here = resolve(p);
  return existsSync(here) ? here : resolve(REPO_DIR, p);
}
const BIN = fromCwdOrRepo(process.env.WEBTOON_BIN || 'build/release/webtoon');
const DIST = resolve(WEB_DIR, 'dist');
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
export const OUTPUT_DIR = resolve(REPO_DIR, process.env.E2E_OUTPUT_DIR || 'test-output');
export const SHOTS_DIR = join(OUTPUT_DIR, 'screenshots');
const BACKEND_LOG = join(OUTPUT_DIR, 'e2e-webtoon-up.log');

/** Desktop and phone viewports for the screenshots. */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Longest wait for anything the UI should show (a poll, a saga, a reload). */
export const UI_TIMEOUT_MS = Number(process.env.E2E_UI_TIMEOUT_MS || 15000);
/** The whole run is killed after this long, whatever it is waiting for. */
const WATCHDOG_MS = Number(process.env.E2E_WATCHDOG_MS || 170000);

const SERVICES = ['pointer', 'payment', 'history', 'webtoon', 'purchase', 'web', 'gateway', 'auth'];
const DEMO_IDS = ['niceguy', 'niceguy-2', 'tower-1', 'tower-2', 'seoul-night-1'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A deadline for Promise.race that does not keep the process alive. */
const timeLimit = (ms) => new Promise((r) => setTimeout(r, ms).unref());

/** Whether nothing listens on <port> of 127.0.0.1 now. */
function isFree(port) {
  return new Promise((resolveFree) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', () => resolveFree(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolveFree(true)));
  });
}

// As tests/integration/harness.py: below the kernel's ephemeral ports, where
// a port free now cannot become an outgoing connection's a moment later, and
// above the fixed ports of the engines and the cluster suite (beside us).
const PORT_RANGE = [23000, 32000];

async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) {
    const port = PORT_RANGE[0] + Math.floor(Math.random() * (PORT_RANGE[1] - PORT_RANGE[0]));
    if (!ports.has(port) && (await isFree(port))) ports.add(port);
  }
  return [...ports];
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

export function checkPrerequisites() {
  const missing = [];
  if (!existsSync(BIN)) missing.push(`the webtoon binary ${BIN} (make build, or set WEBTOON_BIN)`);
  if (!existsSync(join(DIST, 'index.html'))) missing.push(`the built frontend ${DIST} (make -C web build)`);
  if (!existsSync(CHROMIUM)) missing.push(`Chromium at ${CHROMIUM} (apt-get install chromium; scripts/deps.sh does it)`);
  if (missing.length) throw new Error(`e2e: missing ${missing.join('; ')}`);
}

/** The running system and browser; one per test run. */
export class Harness {
  constructor() {
    this.tmp = null;
    this.up = null;
    this.upExited = null;
    this.browser = null;
    this.baseUrl = '';
    this.issuer = '';
    this.ports = {};
    this.stopping = null;
    this.watchdog = null;
    this.backendLog = BACKEND_LOG;
    this.shotsDir = SHOTS_DIR;
    this.onSignal = (sig) => {
      process.stderr.write(`\ne2e: ${sig}: stopping the backend and the browser\n`);
      void this.stop().finally(() => process.exit(130));
    };
    // Last resort when the process exits before stop() finished (the test
    // runner exits on Ctrl-C by itself): no orphans, no temporary files.
    this.onExit = () => {
      this.killGroup('SIGKILL');
      this.removeTmp();
    };
  }

  async start() {
    checkPrerequisites();
    mkdirSync(SHOTS_DIR, { recursive: true });
    // A failure screenshot from an earlier run would mislead.
    for (const f of readdirSync(SHOTS_DIR)) if (f.startsWith('FAILED-')) rmSync(join(SHOTS_DIR, f), { force: true });
    this.tmp = mkdtempSync(join(tmpdir(), 'webtoon-e2e-'));
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
    this.watchdog = setTimeout(() => {
      process.stderr.write(`\ne2e: the run took longer than ${WATCHDOG_MS} ms; killing everything\n`);
      void this.stop().finally(() => process.exit(1));
    }, WATCHDOG_MS);
    this.watchdog.unref();

    await this.startBackend();
    await this.startBrowser();
  }

  async startBackend() {
    // E2E_PORT_BASE=37700 takes 37700, 37701, ... (a shared machine hands out
    // ranges); otherwise any free ports.
    const base = Number(process.env.E2E_PORT_BASE || 0);
    const ports = base > 0 ? SERVICES.map((_, i) => base + i) : await freePorts(SERVICES.length);
    SERVICES.forEach((s, i) => (this.ports[s] = ports[i]));
    const env = {
      ...process.env,
      WEBTOON_DATA_DIR: join(this.tmp, 'var'),
      // The built-in issuer (empty: http://127.0.0.1:<WEBTOON_AUTH_PORT>),
      // which accepts the gateway's /callback by default.
      WEBTOON_AUTH_ISSUER: '',
      WEBTOON_AUTH_REDIRECT_URIS: '',
      WEBTOON_WEB_ROOT: DIST,
      WEBTOON_DRAIN_DELAY_MS: '0',
      WEBTOON_GATEWAY_RATE_LIMIT: '1000000',
      WEBTOON_POLL_INTERVAL_MS: '200',
      WEBTOON_REPLICAS: '1',
    };
    for (const s of SERVICES) env[`WEBTOON_${s.toUpperCase()}_PORT`] = String(this.ports[s]);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    const log = openSync(BACKEND_LOG, 'w');
    // Its own process group, so stop() can end every child even if `up` hangs.
    this.up = spawn(BIN, ['up', '--demo'], { cwd: this.tmp, env, stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    this.upExited = new Promise((r) => this.up.once('exit', (code, signal) => r({ code, signal })));
    this.up.once('error', (e) => process.stderr.write(`e2e: cannot start ${BIN}: ${e.message}\n`));
    this.baseUrl = `http://127.0.0.1:${this.ports.gateway}`;

    // Ready: the gateway answers, serves the frontend and its sign-in
    // settings, the issuer they name answers its discovery, and the demo
    // catalog is in.
    const deadline = Date.now() + 30000;
    let last = 'nothing yet';
    for (;;) {
      if (this.up.exitCode !== null || this.up.signalCode !== null) {
        throw new Error(`e2e: webtoon up exited (${this.up.exitCode ?? this.up.signalCode}) while starting:\n${tail(BACKEND_LOG)}`);
      }
      try {
        const page = await fetch(`${this.baseUrl}/`, { signal: AbortSignal.timeout(2000) });
        const html = await page.text();
        const cat = await fetch(`${this.baseUrl}/webtoons?size=100`, { signal: AbortSignal.timeout(2000) });
        const body = cat.ok ? await cat.json() : {};
        const ids = (body._embedded?.webtoons ?? []).map((w) => w.webtoonId);
        const cfg = await fetch(`${this.baseUrl}/config.json`, { signal: AbortSignal.timeout(2000) });
        const config = cfg.ok ? await cfg.json() : {};
        let discovery = 0;
        if (config.issuer) {
          const d = await fetch(`${config.issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
          discovery = d?.status ?? 0;
        }
        if (page.ok && html.includes('id="app"') && DEMO_IDS.every((id) => ids.includes(id)) && discovery === 200) {
          this.issuer = config.issuer;
          return;
        }
        last = `GET / ${page.status}, GET /webtoons ${cat.status} with ${ids.length} webtoons, /config.json ${cfg.status} naming ${config.issuer ?? 'no issuer'}, discovery ${discovery}`;
      } catch (e) {
        last = e.message;
      }
      if (Date.now() > deadline) {
        throw new Error(`e2e: the system was not ready within 30 s (last: ${last}):\n${tail(BACKEND_LOG)}`);
      }
      await sleep(100);
    }
  }

  async startBrowser() {
    // Playwright gives every launch a fresh temporary --user-data-dir (and
    // refuses one in args); TMPDIR puts it in our directory, removed at stop.
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = this.tmp;
    try {
      this.browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        timeout: 30000,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          '--disable-quic',
        ],
      });
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
  }

  /** A fresh browser context (own localStorage: a new visitor) and its page. */
  async newPage(viewport = DESKTOP) {
    const context = await this.browser.newContext({ viewport, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'UTC' });
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(UI_TIMEOUT_MS);
    const page = await context.newPage();
    // Uncaught exceptions in the app fail the scenario (see pageErrors).
    const errors = [];
    pageErrors.set(page, errors);
    page.on('pageerror', (e) => errors.push(e.message));
    // The browser's own complaints (a CORS refusal, a failed load), for failure reports.
    const complaints = [];
    consoleErrors.set(page, complaints);
    page.on('console', (m) => {
      if (m.type() === 'error') complaints.push(m.text().slice(0, 300));
    });
    return page;
  }

  /** Opens a screen of the store, e.g. go(page, '/points'). */
  async go(page, path = '/') {
    await page.goto(`${this.baseUrl}/#${path}`);
  }

  /** GET of the API as a visitor, the body as JSON. */
  async getJson(path) {
    const r = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Error(`e2e: GET ${path}: ${r.status}`);
    return r.json();
  }

  /** The series in the store (the demo's, and any a scenario added). */
  async demoSeries() {
    return (await this.getJson('/series?size=100'))._embedded?.series ?? [];
  }

  /**
   * From the demo catalog (read through the API, so the walk follows the demo
   * as it changes): a series with a free episode and a paid one, both with
   * at least two pages.
   */
  async walkSeries() {
    const freeNow = (e) => e.point === 0 || (e.freeFrom && Date.parse(e.freeFrom) <= Date.now());
    return eventually('a demo series with a free and a paid episode, both with pages', async () => {
      for (const series of await this.demoSeries()) {
        const eps = ((await this.getJson(`/series/${encodeURIComponent(series.seriesId)}/episodes?size=100`))._embedded?.episodes ?? []).filter(
          (e) => e.status === 'published' && (e.pages ?? 0) >= 2,
        );
        const free = eps.find(freeNow);
        const paid = eps.find((e) => !freeNow(e));
        if (free && paid) return { series, free, paid };
      }
      return null;
    });
  }

  /**
   * `n` real images to upload through the admin screens, as playwright file
   * payloads: pages of the demo's free episodes, which are public (no art is
   * kept in the repository).
   */
  async demoImages(n) {
    const { free } = await this.walkSeries();
    const files = [];
    for (let i = 0; i < n; i++) {
      const path = `/webtoons/${encodeURIComponent(free.webtoonId)}/pages/${(i % free.pages) + 1}?size=reading`;
      const r = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(5000) });
      if (!r.ok) throw new Error(`e2e: GET ${path}: ${r.status}`);
      const mimeType = (r.headers.get('content-type') || 'image/png').split(';')[0];
      const ext = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' }[mimeType] ?? 'img';
      files.push({ name: `art-${i + 1}.${ext}`, mimeType, buffer: Buffer.from(await r.arrayBuffer()) });
    }
    return files;
  }

  /** The password of the built-in issuer's first admin, made at its first start. */
  adminPassword() {
    return readFileSync(join(this.tmp, 'var', 'auth', 'admin-password'), 'utf8').trim();
  }

  killGroup(signal) {
    if (!this.up || this.up.exitCode !== null || this.up.signalCode !== null) return;
    try {
      process.kill(-this.up.pid, signal);
    } catch {
      /* already gone */
    }
  }

  removeTmp() {
    if (!this.tmp) return;
    try {
      rmSync(this.tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      this.tmp = null;
    } catch (e) {
      process.stderr.write(`e2e: could not remove ${this.tmp}: ${e.message}\n`);
    }
  }

  async stop() {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  async doStop() {
    clearTimeout(this.watchdog);
    if (this.browser) {
      await Promise.race([this.browser.close().catch(() => {}), timeLimit(10000)]);
    }
    if (this.up) {
      try {
        process.kill(this.up.pid, 'SIGTERM'); // `up` stops its children in order
      } catch {
        /* already gone */
      }
      const done = await Promise.race([this.upExited, timeLimit(15000).then(() => null)]);
      if (!done) process.stderr.write('e2e: webtoon up did not stop within 15 s; killing its process group\n');
      // Whatever is left in the group (a child that ignored SIGTERM) goes now.
      try {
        process.kill(-this.up.pid, 'SIGKILL');
      } catch {
        /* nothing left */
      }
      if (done && done.code !== 0) {
        process.stderr.write(`e2e: webtoon up exited with ${done.code ?? done.signal}; log: ${rel(BACKEND_LOG)}\n`);
      }
    }
    this.removeTmp();
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
  }
}

/**
 * Calls `find` until it returns something (the demo uploads its art after
 * the catalog is in), for at most `ms`.
 */
async function eventually(what, find, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await find();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`e2e: no ${what} within ${ms} ms`);
    await sleep(500);
  }
}

const pageErrors = new WeakMap();
const consoleErrors = new WeakMap();

/** What the browser logged as errors in this page so far (4xx answers included). */
export function consoleErrorsOf(page) {
  return consoleErrors.get(page) ?? [];
}

/** Uncaught exceptions the app threw in this page so far. */
export function pageErrorsOf(page) {
  return pageErrors.get(page) ?? [];
}

export function rel(p) {
  return relative(process.cwd(), p) || '.';
}

/** Saves a full-page screenshot as test-output/screenshots/<name>.png. */
export async function screenshot(page, name) {
  const file = join(SHOTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled', caret: 'hide' });
  return file;
}

/** With E2E_UPDATE_DOCS=1, copies the README's screenshots to docs/screenshots/. */
export function updateDocScreenshots(names) {
  if (process.env.E2E_UPDATE_DOCS !== '1') return;
  const dir = join(REPO_DIR, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  for (const n of names) copyFileSync(join(SHOTS_DIR, `${n}.png`), join(dir, `${n}.png`));
}

// --- waiting for what a user sees -------------------------------------------

/**
 * Waits until the locator's visible text matches `pattern` (a RegExp or a
 * substring), and fails with the last text seen. playwright-core has no
 * auto-retrying expect(), so this is it.
 */
export async function expectText(locator, pattern, timeout = UI_TIMEOUT_MS) {
  const matches = (t) => (pattern instanceof RegExp ? pattern.test(t) : t.includes(pattern));
  const deadline = Date.now() + timeout;
  let last = '(not found)';
  for (;;) {
    try {
      if ((await locator.count()) > 0) {
        last = (await locator.first().innerText({ timeout: 1000 })).replace(/\s+/g, ' ').trim();
        if (matches(last)) return last;
      }
    } catch (e) {
      last = `(${e.message.split('\n')[0]})`;
    }
    if (Date.now() > deadline) {
      throw new Error(`expected ${locator} to show ${pattern} within ${timeout} ms; it shows: ${last}`);
    }
    await sleep(100);
  }
}

/** Waits until the locator is visible. */
export async function expectVisible(locator, timeout = UI_TIMEOUT_MS) {
  await locator.first().waitFor({ state: 'visible', timeout });
}

/** Fails unless the locator matches nothing visible (checked after the page settled). */
export async function expectAbsent(locator) {
  const n = await locator.count();
  for (let i = 0; i < n; i++) {
    if (await locator.nth(i).isVisible()) throw new Error(`expected ${locator} to be absent, but it is shown`);
  }
}
