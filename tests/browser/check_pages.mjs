// Opens pages of a running server in headless Chromium, as a person would, and checks what
// they show. Every request that leaves the loopback interface is blocked and fails the run.
//
// Usage: node check_pages.mjs CHECKS_JSON
// CHECKS_JSON is a list of {name, url, expect: [text…], password?: string}. For a check with a
// password, the page must show a password form first; the script fills it in and submits.
// Prints one line per check and ends with "N passed, M failed"; exits 1 on any failure.
import { chromium } from "playwright-core";

const checks = JSON.parse(process.argv[2] ?? "[]");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

const isLocal = (url) => {
  try {
    const host = new URL(url).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "[::1]";
  } catch {
    return url.startsWith("data:") || url.startsWith("about:");
  }
};

let passed = 0;
let failed = 0;
for (const check of checks) {
  const context = await browser.newContext();
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  try {
    await page.goto(check.url, { waitUntil: "load", timeout: 20000 });
    if (check.password !== undefined) {
      const field = page.locator("input[type=password]");
      await field.waitFor({ timeout: 10000 });
      await field.fill(check.password);
      await Promise.all([page.waitForLoadState("load"), page.locator("button[type=submit]").click()]);
    }
    for (const text of check.expect) {
      // Generous: Swagger UI takes seconds to lay out the whole document on a busy 2-core box.
      await page.getByText(text, { exact: false }).first().waitFor({ timeout: 60000 });
    }
    if (blocked.length > 0) throw new Error(`requests left the host: ${blocked.join(", ")}`);
    console.log(`ok   ${check.name}`);
    passed += 1;
  } catch (err) {
    const body = (await page.content().catch(() => "")).slice(0, 2000);
    console.log(`FAIL ${check.name}: ${err.message}\n--- page ---\n${body}`);
    failed += 1;
  } finally {
    await context.close();
  }
}
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed === checks.length ? 0 : 1);
