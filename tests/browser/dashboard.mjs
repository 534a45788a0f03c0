// Drives the web dashboard in headless Chromium as two people would, with every request that
// leaves the loopback interface blocked (and failing the run). Screenshots of the main pages go
// to the artifacts folder.
//
// Usage: node dashboard.mjs SETUP_JSON
// SETUP_JSON: {base, artifacts, project, alice: {key}, bob: {key}, carol_email, tagged_title,
//              other_title} — `project` is alice's, with a persona "Atlas", a run and a page "guide".
// Prints one line per step and ends with "N passed, M failed"; exits 1 on any failure.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const setup = JSON.parse(process.argv[2] ?? "{}");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
mkdirSync(setup.artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const isLocal = (url) => {
  try {
    const host = new URL(url).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "[::1]";
  } catch {
    return url.startsWith("data:") || url.startsWith("about:");
  }
};

const blocked = [];
async function newPerson(options = {}) {
  const context = await browser.newContext(options);
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  return { context, page };
}

let passed = 0;
let failed = 0;
async function step(name, page, fn) {
  try {
    await fn();
    if (blocked.length > 0) throw new Error(`requests left the host: ${blocked.join(", ")}`);
    console.log(`ok   ${name}`);
    passed += 1;
  } catch (err) {
    const body = (await page.content().catch(() => "")).slice(0, 3000);
    console.log(`FAIL ${name}: ${err.message}\n--- page ---\n${body}`);
    failed += 1;
  }
}
const shot = (page, name) => page.screenshot({ path: `${setup.artifacts}/${name}.png`, fullPage: true });
const see = (page, text) => page.getByText(text, { exact: false }).first().waitFor({ timeout: 10000 });
const submit = async (page, form) => {
  await Promise.all([page.waitForLoadState("load"), form.locator("button[type=submit]").click()]);
};

async function signIn(page, key) {
  await page.goto(setup.base + "/", { waitUntil: "load" });
  await page.locator("input[name=api_key]").fill(key);
  await Promise.all([page.waitForURL(setup.base + "/"), page.getByRole("button", { name: "Sign in" }).click()]);
}

const alice = await newPerson();
const a = alice.page;

await step("the sign-in page, keyboard first", a, async () => {
  await a.goto(setup.base + "/", { waitUntil: "load" });
  await shot(a, "sign-in");
  const focused = await a.evaluate(() => document.activeElement?.getAttribute("name"));
  if (focused !== "api_key") throw new Error(`the key field is not focused first (${focused})`);
  await a.keyboard.press("Tab");
  const next = await a.evaluate(() => document.activeElement?.textContent);
  if (next !== "Sign in") throw new Error(`Tab from the key field reached ${next}`);
});

await step("sign in with a key and list sessions", a, async () => {
  await signIn(a, setup.alice.key);
  await see(a, setup.tagged_title);
  await see(a, setup.other_title);
  await a.locator("figure.chart svg").first().waitFor();
  await a.keyboard.press("Tab");
  const skip = await a.evaluate(() => document.activeElement?.textContent);
  if (skip !== "Skip to content") throw new Error(`first Tab focused ${skip}`);
  await shot(a, "sessions");
});

await step("filter by tag", a, async () => {
  await a.getByLabel("Tag").fill("web");
  await submit(a, a.locator("form.filters"));
  await see(a, setup.tagged_title);
  if (await a.getByText(setup.other_title).count() !== 0) throw new Error("filter kept an untagged session");
});

await step("search with highlighted snippets", a, async () => {
  await a.getByRole("link", { name: "Search" }).click();
  await a.getByLabel("Words").fill("retry");
  await submit(a, a.locator("form.filters"));
  await a.locator("ol.results mark").first().waitFor({ timeout: 10000 });
  await shot(a, "search");
});

await step("open a session: conversation, summary, pull command", a, async () => {
  await Promise.all([a.waitForLoadState("load"), a.getByRole("link", { name: setup.tagged_title }).first().click()]);
  await see(a, "message 0 about the retry loop");
  await see(a, "sfs pull");
  await shot(a, "session");
});

let shareUrl = "";
await step("create a share link and open it", a, async () => {
  await a.locator("details.actions > summary").click();
  const form = a.locator("form", { has: a.getByRole("button", { name: "Create share link" }) });
  await form.getByLabel("Expires after").selectOption("168");
  await submit(a, form);
  await see(a, "Share link created");
  shareUrl = await a.locator("#share-url").getAttribute("href");
  const viewer = await newPerson();
  await viewer.page.goto(shareUrl, { waitUntil: "load" });
  await see(viewer.page, setup.tagged_title);
  await see(viewer.page, "message 5 about the retry loop");
  await viewer.context.close();
});

await step("hand the session off to bob", a, async () => {
  await a.locator("details.actions > summary").click();
  const form = a.locator("form", { has: a.getByRole("button", { name: "Hand off" }) });
  await form.getByLabel("Teammate's email").fill(setup.bob.email);
  await form.getByLabel("Message (optional)").fill("Over to you");
  await submit(a, form);
  await see(a, "Handed off");
  await see(a, "pending");
  await shot(a, "handoff-sent");
});

await step("create a key (shown once) and revoke it", a, async () => {
  await a.getByRole("link", { name: "API keys" }).click();
  await a.getByLabel("Name").fill("ci-laptop");
  await submit(a, a.locator("form.card"));
  await see(a, "shown only once");
  const raw = await a.locator("#new-key").textContent();
  if (!raw.startsWith("sk_sfs_")) throw new Error(`new key shown as ${raw}`);
  await shot(a, "keys");
  const row = a.locator("tr", { hasText: "ci-laptop" });
  await Promise.all([a.waitForLoadState("load"), row.getByRole("button", { name: "Revoke" }).click()]);
  await see(a, "Key revoked");
  await a.locator("tr", { hasText: "ci-laptop" }).getByText("revoked").waitFor();
});

await step("invite a member", a, async () => {
  await a.getByRole("link", { name: "Organization" }).click();
  const form = a.locator("form", { has: a.getByRole("button", { name: "Send invite" }) });
  await form.getByLabel("Email").fill(setup.carol_email);
  await submit(a, form);
  await see(a, "Invite sent");
  await a.locator("table", { hasText: setup.carol_email }).waitFor();
  await shot(a, "organization");
});

const count = async (page, status) =>
  Number(await page.locator(`.board [data-count="${status}"]`).textContent());

await step("a ticket board: create a ticket, move it, see the counts change", a, async () => {
  await a.goto(`${setup.base}/ui/projects/${setup.project}`, { waitUntil: "load" });
  await Promise.all([a.waitForLoadState("load"), a.locator("nav.subnav").getByRole("link", { name: "Tickets" }).click()]);
  await a.locator("figure.chart svg").first().waitFor();
  if (await count(a, "open") !== 0) throw new Error("the board starts with an open ticket");
  const form = a.locator("form", { has: a.getByRole("button", { name: "Create ticket" }) });
  await form.getByLabel("Title").fill("Ship the board");
  await form.getByLabel("Description").fill("Columns per status, counts as a picture.");
  await form.getByLabel("Priority").selectOption("high");
  await submit(a, form);
  await a.locator(".board li.card-ticket", { hasText: "Ship the board" }).waitFor();
  if (await count(a, "open") !== 1) throw new Error(`open count is ${await count(a, "open")}`);
  await shot(a, "tickets-board");
  await Promise.all([a.waitForLoadState("load"), a.getByRole("link", { name: "Ship the board" }).click()]);
  const offered = await a.locator("section.moves button").allTextContents();
  if (offered.join(",") !== "Start,Cancel") throw new Error(`an open task offers ${offered}`);
  await Promise.all([a.waitForLoadState("load"), a.getByRole("button", { name: "Start", exact: true }).click()]);
  await a.locator('.status[data-status="in_progress"]').waitFor();
  await a.getByLabel("Completion notes").fill("Built and tested");
  await Promise.all([a.waitForLoadState("load"), a.getByRole("button", { name: "Complete", exact: true }).click()]);
  await a.locator('.status[data-status="review"]').waitFor();
  await see(a, "Built and tested");
  await a.getByLabel("Comment").fill("Looks right to me");
  await submit(a, a.locator("form", { has: a.getByRole("button", { name: "Add comment" }) }));
  await see(a, "Looks right to me");
  await shot(a, "ticket");
  await Promise.all([a.waitForLoadState("load"), a.getByRole("link", { name: "← Board" }).click()]);
  if (await count(a, "open") !== 0 || await count(a, "review") !== 1) {
    throw new Error(`after the moves: open ${await count(a, "open")}, review ${await count(a, "review")}`);
  }
  await shot(a, "tickets-board-moved");
});

await step("personas, agent runs, wiki and settings pages", a, async () => {
  const project = `${setup.base}/ui/projects/${setup.project}`;
  const open = async (link) => {
    await a.goto(project, { waitUntil: "load" });
    await Promise.all([a.waitForLoadState("load"), a.locator("nav.subnav").getByRole("link", { name: link, exact: true }).click()]);
  };
  await open("Personas");
  await see(a, "You design APIs.");
  await shot(a, "personas");
  await open("Agent runs");
  await a.locator("table", { hasText: "Atlas" }).waitFor();
  await shot(a, "agent-runs");
  await Promise.all([a.waitForLoadState("load"), a.locator("table a").first().click()]);
  await see(a, "queued");
  await shot(a, "agent-run");
  await open("Wiki");
  await shot(a, "wiki");
  await Promise.all([a.waitForLoadState("load"), a.getByRole("link", { name: "Team guide" }).click()]);
  await see(a, "How we work.");
  await see(a, "History");
  await shot(a, "wiki-page");
  await open("Settings");
  await a.getByLabel("Compile schedule").waitFor();
  await shot(a, "project-settings");
  await Promise.all([a.waitForLoadState("load"), a.locator("header nav").getByRole("link", { name: "Settings" }).click()]);
  await see(a, "LLM judge");
  await a.getByLabel("Audit sessions").selectOption("on_sync");
  await submit(a, a.locator("form", { has: a.getByRole("button", { name: "Save triggers" }) }));
  await see(a, "Triggers saved.");
  await shot(a, "settings");
});

await step("projects, account and handoffs pages", a, async () => {
  for (const [link, name] of [["Projects", "projects"], ["Handoffs", "handoffs"], ["Account", "account"]]) {
    await a.getByRole("link", { name: link, exact: true }).click();
    await a.locator("h1", { hasText: link }).waitFor();
    await shot(a, name);
  }
  await see(a, "(this browser)");
});

await step("sign out", a, async () => {
  await Promise.all([a.waitForLoadState("load"), a.getByRole("button", { name: "Sign out" }).click()]);
  await a.locator("input[name=api_key]").waitFor();
  await a.goto(setup.base + "/ui/keys", { waitUntil: "load" });
  await a.locator("input[name=api_key]").waitFor();
});

const bob = await newPerson();
const b = bob.page;
await step("bob claims the handoff", b, async () => {
  await signIn(b, setup.bob.key);
  await b.getByRole("link", { name: "Handoffs" }).click();
  await Promise.all([b.waitForLoadState("load"), b.getByRole("link", { name: setup.tagged_title }).first().click()]);
  await see(b, "Over to you");
  await Promise.all([b.waitForLoadState("load"), b.getByRole("button", { name: "Claim" }).click()]);
  await see(b, "Claimed");
  await see(b, "message 0 about the retry loop");
  await b.getByRole("link", { name: "Sessions" }).click();
  await see(b, setup.tagged_title);
});

const phone = await newPerson({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
await step("phone width, dark mode", phone.page, async () => {
  await signIn(phone.page, setup.alice.key);
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 2) throw new Error(`page is ${overflow}px wider than the phone`);
  const bg = await phone.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (bg !== "rgb(18, 20, 23)") throw new Error(`dark mode background is ${bg}`);
  await shot(phone.page, "sessions-phone-dark");
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
