import { chromium } from "playwright-core";
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless","--no-sandbox","--disable-gpu"] });
const context = await browser.newContext();
await context.route("**/*", (route) => {
  const url = route.request().url();
  console.log("REQ", route.request().method(), url.slice(0, 120));
  if (url.startsWith("http://127.0.0.1")) return route.continue();
  return route.abort();
});
const page = await context.newPage();
page.on("console", (m) => console.log("CONSOLE", m.type(), m.text().slice(0, 300)));
page.on("pageerror", (e) => console.log("PAGEERROR", e.message.slice(0, 500)));
await page.goto(process.argv[2], { waitUntil: "load" });
await page.waitForTimeout(6000);
const text = await page.evaluate(() => document.body ? document.body.innerText.slice(0, 1500) : "(no body)");
console.log("TEXT", text);
await browser.close();
