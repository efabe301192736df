// Browser tests: the real `callpilot serve`, Debian's chromium (headless) driven by
// playwright-core, and Chromium's fake microphone fed a WAV of a caller. Screenshots of each
// page go to test-artifacts/web/. Exits non-zero on the first failed check.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { readWav, writeWav, concat } from './wav.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const bin = process.env.CALLPILOT_BIN || path.join(targetDir, 'release', 'callpilot');
const modelsDir = process.env.CALLPILOT_MODELS_DIR || path.join(root, 'models');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = path.join(root, 'test-artifacts', 'web');
const tmp = path.join(artifacts, 'tmp');
mkdirSync(tmp, { recursive: true });

function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitHealthy(base, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try { if ((await fetch(`${base}/health`)).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server at ${base} not healthy within ${ms} ms`);
}

// The caller: 2 s of quiet (the agent greets), then a question spoken over the greeting.
function callerWav() {
  const raw = path.join(tmp, 'caller-raw.wav');
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '140', '-w', raw, 'How much is the premium plan?']);
  const { rate, samples } = readWav(raw);
  const out = path.join(tmp, 'caller.wav');
  writeWav(out, rate, concat(rate, [2.0, samples, 20.0]));
  return out;
}

async function main() {
  for (const [what, p] of [['callpilot binary', bin], ['chromium', chromiumPath], ['models', modelsDir]]) {
    if (!existsSync(p)) throw new Error(`${what} not found at ${p} (run \`make test\`, which installs it)`);
  }
  const db = `sqlite://${tmp}/web-${process.pid}.db`;
  const email = 'admin@example.com';
  const password = 'correct horse battery';
  execFileSync(bin, ['users', 'add', '--email', email, '--role', 'admin', '--password-stdin',
    '--database-url', db], { input: `${password}\n`, cwd: root });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--llm', 'none',
    '--models-dir', modelsDir, '--database-url', db], {
    cwd: root, stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, RUST_LOG: 'info,whisper_rs=warn', TWILIO_AUTH_TOKEN: 'web-tests-token' },
  });
  const browserArgs = [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${callerWav()}%noloop`,
    '--autoplay-policy=no-user-gesture-required',
    '--no-sandbox',
  ];
  let browser;
  try {
    await waitHealthy(base, 120_000);
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: browserArgs });
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`[page] ${m.text()}`));

    await page.goto(`${base}/web/talk`);
    check(page.url().includes('/login'), 'pages need a sign-in: /web/talk redirects to the login page');
    await page.screenshot({ path: path.join(artifacts, 'login.png') });
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', 'not the password');
    await page.click('button[type=submit]');
    check((await page.locator('.error').textContent()).includes('Wrong'), 'a wrong password is refused');
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/web\/talk/);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'cp_session');
    check(session && session.httpOnly && session.sameSite === 'Lax', 'signed in with an HttpOnly, SameSite=Lax session cookie');
    check((await page.title()).includes('Talk'), 'the Talk page loads');
    const agents = await page.locator('#agent option').allTextContents();
    check(agents.some((a) => a.includes('demo')), `agent choice lists the configured agents (${agents.join(', ')})`);
    await page.screenshot({ path: path.join(artifacts, 'talk-ready.png') });

    await page.click('#talk');
    await page.waitForSelector('body[data-connected="true"]', { timeout: 20_000 });
    check(true, 'microphone and call connected');

    const agentLine = page.locator('#transcript .line.agent').filter({ hasText: /49|forty-nine/i });
    await agentLine.first().waitFor({ timeout: 90_000 });
    const callerText = await page.locator('#transcript .line.caller').allTextContents();
    check(callerText.some((t) => /premium/i.test(t)), `the caller's words are in the transcript (${callerText.join(' | ')})`);
    check(true, 'the agent answered with the premium price');
    const lines = await page.locator('#transcript .line').allTextContents();
    console.log(`transcript: ${lines.join(' | ')}`);
    const playedMs = Number(await page.evaluate(() => document.body.dataset.agentAudioMs || '0'));
    check(playedMs > 2000, `agent audio was played (${playedMs} ms)`);
    const clears = Number(await page.evaluate(() => document.body.dataset.clears || '0'));
    check(clears >= 1, `talking over the greeting stopped its playback (${clears} clear)`);
    await page.screenshot({ path: path.join(artifacts, 'talk-conversation.png') });

    await page.click('#talk');
    await page.waitForSelector('body[data-connected="false"]', { timeout: 10_000 });
    check(true, 'hanging up ends the call');

    // The operator's view of that call.
    await page.goto(`${base}/dashboard`);
    check((await page.locator('svg').count()) >= 3, 'the dashboard draws its charts');
    await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });
    await page.goto(`${base}/dashboard/calls`);
    const link = page.locator('a[href^="/dashboard/calls/WB"]').first();
    await link.waitFor({ timeout: 10_000 });
    await page.screenshot({ path: path.join(artifacts, 'calls.png'), fullPage: true });
    await link.click();
    await page.waitForSelector('.line.caller', { timeout: 10_000 });
    const stored = await page.locator('.line').allTextContents();
    check(stored.some((t) => /premium/i.test(t)), `the call page shows the caller's turn (${stored.join(' | ')})`);
    check(stored.some((t) => /forty-nine/i.test(t)), "the call page shows the agent's answer");
    await page.screenshot({ path: path.join(artifacts, 'call.png'), fullPage: true });
    for (const [name, url] of [['live', '/dashboard/live'], ['campaigns', '/dashboard/campaigns'], ['api-docs', '/api/docs']]) {
      const resp = await page.goto(`${base}${url}`);
      check(resp.ok(), `${url} opens`);
      await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
    }
  } finally {
    if (browser) await browser.close();
    server.kill('SIGTERM');
  }
}

main().then(() => console.log('web tests: all passed'), (e) => {
  console.error(e.message);
  process.exitCode = 1;
});
