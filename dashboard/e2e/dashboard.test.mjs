// Browser tests: the built dashboard in Debian's Chromium, driven by playwright-core, against
// the real local stack that scripts/browser-test.sh starts (real API, Kafka, PostgreSQL and
// saga). The tests run in order in one signed-in page, on a fresh database: each builds on
// what the one before left. Screenshots of every screen go to test-results/.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

const BASE = process.env.DASHBOARD_URL;
if (!BASE) throw new Error("DASHBOARD_URL is not set: run scripts/browser-test.sh");
const RESULTS = new URL("../test-results/", import.meta.url).pathname;
/** The browser's zone differs from every clinic's, so a time shown in the wrong zone shows. */
const BROWSER_ZONE = "Asia/Tokyo";
const SAGA_TIMEOUT = 60_000;

let browser;
let page;
let agent;
let token;
let clinics;
/** What the browser reported against the dashboard's Content-Security-Policy, over every test. */
const cspViolations = [];

// Demo patient n (1..50) has the id 0e000000-0000-4000-8000-<n in hex>.
const patientId = (n) => `0e000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

async function api(path, body) {
  const response = await fetch(BASE + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${path}: HTTP ${response.status} ${text}`);
  return JSON.parse(text);
}

const screenshot = (name) => page.screenshot({ path: `${RESULTS}${name}.png`, fullPage: true });

/** The first clinic-local day from tomorrow on that has a free slot, and its availability. */
async function freeDay(clinic, type = "ROUTINE") {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: clinic.timeZone }).format(new Date());
  for (let i = 1; i <= 14; i++) {
    const day = new Date(Date.parse(`${today}T12:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10);
    const free = await api(`/api/v1/clinics/${clinic.id}/availability?date=${day}&type=${type}`);
    const provider = free.providers.find((p) => p.slots.length > 0);
    if (provider) return { day, provider, slot: provider.slots[0] };
  }
  throw new Error(`no free slot at ${clinic.name} in two weeks`);
}

/** Books through the API (the form has its own test) in the first free slot; the slot is
 * taken as soon as this returns, so the next booking gets another. */
async function book(clinic, patient) {
  const { provider, slot } = await freeDay(clinic);
  const accepted = await api("/api/v1/appointments", {
    clinicId: clinic.id,
    patientId: patientId(patient),
    providerId: provider.providerId,
    dateTime: slot.start,
    type: "ROUTINE",
  });
  return accepted.appointmentId;
}

/** Books, then waits for the saga's verdict. */
const bookByApi = async (clinic, patient) => waitForVerdict(await book(clinic, patient));

async function waitForVerdict(appointmentId) {
  const deadline = Date.now() + SAGA_TIMEOUT;
  while (Date.now() < deadline) {
    const response = await fetch(`${BASE}/api/v1/appointments/${appointmentId}`, { headers: { authorization: `Bearer ${token}` } });
    if (response.ok) {
      const appointment = await response.json();
      if (appointment.status === "CONFIRMED" || appointment.status === "CANCELLED") return appointment;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`appointment ${appointmentId}: no saga verdict in ${SAGA_TIMEOUT} ms`);
}

/** The table once the rows of the current filter and page have arrived. */
const settledTable = () => page.locator('.appointments table[aria-busy="false"]').waitFor();
const row = (appointmentId) => page.locator(`tr[data-appointment-id="${appointmentId}"]`);
const kpi = (key) => page.locator(`[data-kpi="${key}"] .kpi-value`);
const stat = (key) => page.locator(`[data-stat="${key}"] dd`);

async function overview() {
  await page.getByRole("link", { name: "Overview", exact: true }).click();
  await page.locator(".appointments").waitFor();
}

/** Reloads the overview and returns the metrics the page asked the API for, fetched again
 * independently with the test's own token once the page has drawn them. */
async function overviewMetrics() {
  const requested = page.waitForResponse((r) => r.url().includes("/api/v1/metrics") && r.ok());
  await page.goto(`${BASE}/`);
  const url = (await requested).url();
  await kpi("created").filter({ hasNotText: "—" }).waitFor();
  return api(new URL(url).pathname + new URL(url).search);
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: BROWSER_ZONE });
  // Every violation of the page's Content-Security-Policy is reported as a console error.
  await context.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (e) =>
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
    ),
  );
  page = await context.newPage();
  page.on("console", (message) => {
    if (/CSP violation|Content Security Policy/.test(message.text())) cspViolations.push(message.text());
  });
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
});

test("a supervisor signs in locally and sees the empty overview", async () => {
  const agents = await (await fetch(`${BASE}/_local/auth/agents`)).json();
  agent = agents.find((a) => a.role === "SUPERVISOR") ?? agents[0];
  assert.ok(agent, "the local stack lists demo agents");
  await page.goto(`${BASE}/`);
  await page.getByRole("button", { name: new RegExp(agent.name) }).waitFor();
  await screenshot("01-sign-in");
  await page.getByRole("button", { name: new RegExp(agent.name) }).click();
  await page.getByTestId("agent-name").filter({ hasText: agent.name }).waitFor();
  token = JSON.parse(await page.evaluate(() => sessionStorage.getItem("clinic.session"))).token;
  clinics = await api("/api/v1/clinics");
  assert.deepEqual(clinics.map((c) => c.id).sort(), [...agent.clinicIds].sort(), "the agent sees exactly their clinics");
  await page.getByText("No appointments yet").waitFor();
  await kpi("created").filter({ hasText: "0" }).waitFor();
  await screenshot("02-overview-empty");
});

test("an appointment booked through the form shows PROCESSING, then reaches CONFIRMED in the table", async () => {
  const clinic = clinics[0];
  const { day, provider, slot } = await freeDay(clinic);
  await page.getByRole("link", { name: "Book an appointment" }).click();
  await page.getByLabel("Clinic", { exact: true }).selectOption(clinic.id);
  await page.getByLabel("Date").fill(day);
  await page.getByLabel("Exam type").selectOption("ROUTINE");
  await page.locator(`button.slot[data-provider-id="${provider.providerId}"]`, { hasText: slot.localTime }).first().click();
  await page.getByLabel("Search patient").fill("diego");
  await page.locator(`button[data-patient-id="${patientId(4)}"]`).click();
  await page.getByTestId("chosen-patient").filter({ hasText: "Diego" }).waitFor();
  await screenshot("03-book-form");
  // Record every status the progress chip shows, from the first paint on.
  await page.evaluate(() => {
    window.seenStatuses = [];
    new MutationObserver(() => {
      const status = document.querySelector(".progress-status .chip")?.getAttribute("data-status");
      if (status && window.seenStatuses.at(-1) !== status) window.seenStatuses.push(status);
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.getByRole("button", { name: new RegExp(`^Book routine at ${slot.localTime}`) }).click();
  await page.locator('.progress-status .chip[data-status="CONFIRMED"]').waitFor({ timeout: SAGA_TIMEOUT });
  const seen = await page.evaluate(() => window.seenStatuses);
  assert.equal(seen[0], "PROCESSING", `statuses shown: ${seen}`);
  assert.equal(seen.at(-1), "CONFIRMED", `statuses shown: ${seen}`);
  await screenshot("04-booking-confirmed");

  const link = await page.getByRole("link", { name: "Open the appointment" }).getAttribute("href");
  const appointmentId = link.split("/").pop();
  await overview();
  const booked = row(appointmentId);
  await booked.locator('.chip[data-status="CONFIRMED"]').waitFor();
  const cells = await booked.locator("td").allInnerTexts();
  assert.equal(cells[0], "Diego Lee");
  assert.equal(cells[1], clinic.name);
  // The clinic's wall clock, not Tokyo's.
  assert.match(cells[2], new RegExp(`${slot.localTime} [A-Z]{3}`), `shown as ${cells[2]}`);
  assert.equal(cells[3], "Routine");
  await screenshot("05-overview-confirmed");
});

test("an agent cancels an appointment with a reason and sees CANCELLED with it; Complete where allowed", async () => {
  const clinic = clinics[0];
  const [toCancel, toComplete] = await Promise.all([await book(clinic, 13), await book(clinic, 23)].map(waitForVerdict));
  assert.equal(toCancel.status, "CONFIRMED");
  await overview();
  await row(toCancel.appointmentId).click();
  await page.getByTestId("saga-step").filter({ hasText: "COMPLETED" }).waitFor();
  const timeline = await page.locator(".timeline li").count();
  assert.ok(timeline >= 3, `the saga timeline lists its steps (${timeline})`);
  // A supervisor sees the patient's access log, this very read of the appointment among it.
  await page.locator('[data-testid="access-log"] li[data-action="appointment.read"]', { hasText: agent.agentId }).first().waitFor();
  await screenshot("06-detail-confirmed");
  const reason = "Patient moved to another city";
  await page.getByRole("button", { name: "Cancel…" }).click();
  await page.getByLabel("Cancel reason").fill(reason);
  await page.getByRole("button", { name: "Cancel appointment" }).click();
  await page.locator('.detail .chip[data-status="CANCELLED"]').waitFor();
  assert.equal(await page.getByTestId("cancel-reason").innerText(), reason);
  assert.equal(await page.getByRole("button", { name: "Cancel…" }).count(), 0, "no cancel for a cancelled appointment");
  await screenshot("07-detail-cancelled");

  await overview();
  await row(toCancel.appointmentId).locator('.chip[data-status="CANCELLED"]').waitFor();
  assert.equal(await row(toCancel.appointmentId).locator(".reason").innerText(), reason);

  await row(toComplete.appointmentId).click();
  await page.getByRole("button", { name: "Complete", exact: true }).click();
  await page.locator('.detail .chip[data-status="COMPLETED"]').waitFor();
  assert.equal(await page.getByRole("button", { name: "Complete", exact: true }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Cancel…" }).count(), 0);
});

test("the table filters by status and clinic, shows an empty state, and pages", async () => {
  const clinic = clinics[0];
  // The saga cancels a patient without insurance (ids ending in 0) on its own.
  const uninsured = await bookByApi(clinic, 10);
  assert.equal(uninsured.status, "CANCELLED");
  await overview();
  await page.getByLabel("Status").selectOption("CANCELLED");
  await settledTable();
  await row(uninsured.appointmentId).waitFor();
  const chips = await page.locator(".appointments tbody .chip").evaluateAll((els) => els.map((e) => e.dataset.status));
  assert.deepEqual(chips, ["CANCELLED", "CANCELLED"]);
  assert.match(await row(uninsured.appointmentId).locator(".reason").innerText(), /Insurance verification failed/);
  await screenshot("08-filter-cancelled");

  const other = clinics.find((c) => c.id !== clinic.id);
  assert.ok(other, "the supervisor has a second clinic");
  await page.getByLabel("Clinic", { exact: true }).selectOption(other.id);
  await page.getByText("No appointments match these filters.").waitFor();
  await screenshot("09-filter-empty");

  // 4 so far; 7 more make two pages of 10.
  const more = [];
  for (const patient of [14, 15, 16, 17, 18, 19, 24]) more.push(await book(clinic, patient));
  await Promise.all(more.map(waitForVerdict));
  await page.getByLabel("Clinic", { exact: true }).selectOption("");
  await page.getByLabel("Status").selectOption("");
  await page.getByText("Page 1 of 2 · 11 appointments").waitFor();
  await settledTable();
  assert.equal(await page.locator(".appointments tbody tr").count(), 10);
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByText("Page 2 of 2 · 11 appointments").waitFor();
  await settledTable();
  assert.equal(await page.locator(".appointments tbody tr").count(), 1);
});

test("a call started and ended in the call bar shows in the calls panel as the API counts it", async () => {
  await overview();
  await page.getByLabel("Call for clinic").selectOption(clinics[0].id);
  await page.getByRole("button", { name: "Start call" }).click();
  await page.getByTestId("call-timer").waitFor();
  await stat("inProgress").filter({ hasText: /^1$/ }).waitFor();
  await screenshot("10-on-a-call");
  await page.getByLabel("Call outcome").selectOption("INFORMATION");
  await page.getByRole("button", { name: "End call" }).click();
  await stat("inProgress").filter({ hasText: /^0$/ }).waitFor();
  const metrics = await overviewMetrics();
  assert.equal(metrics.calls.started, 1);
  assert.equal(await stat("started").innerText(), String(metrics.calls.started));
  assert.equal(await stat("inProgress").innerText(), String(metrics.calls.inProgress));
  assert.equal(await stat("conversion").innerText(), metrics.calls.bookedShare === null ? "—" : `${Math.round(metrics.calls.bookedShare * 100)}%`);
  assert.notEqual(await stat("averageHandle").innerText(), "—");
});

test("the KPI cards equal the API's metrics and the charts draw today's points", async () => {
  const metrics = await overviewMetrics();
  for (const key of ["created", "confirmed", "completed", "cancelled"]) {
    assert.equal(await kpi(key).innerText(), String(metrics[key]), `KPI ${key}`);
  }
  // What the earlier tests did: 11 booked; 2 cancelled (1 by an agent, 1 by the saga); 1 completed.
  assert.deepEqual(
    { created: metrics.created, cancelled: metrics.cancelled, completed: metrics.completed },
    { created: 11, cancelled: 2, completed: 1 },
  );
  assert.equal(metrics.confirmed, 10, "every insured booking was confirmed");
  const dots = page.locator(".chart-hourly .recharts-area-dots circle");
  assert.equal(await dots.count(), metrics.hourly.length, "one point per hour of today");
  assert.ok(metrics.hourly.length > 0);
  const bars = await page.locator(".chart-funnel .recharts-bar-rectangle path").count();
  assert.ok(bars > 0, "the funnel draws bars for this half hour's bookings");
  await screenshot("11-overview-kpis");
});

test("with the API down the dashboard shows a banner, not a blank page", async () => {
  // The stack stays up for the next run; the browser's requests to the API are refused.
  await page.route("**/api/v1/**", (route) => route.abort("connectionrefused"));
  try {
    await page.goto(`${BASE}/`);
    await page.getByRole("alert").filter({ hasText: "The scheduling API is not answering" }).waitFor();
    await page.getByTestId("agent-name").filter({ hasText: agent.name }).waitFor();
    await screenshot("12-api-down");
  } finally {
    await page.unroute("**/api/v1/**");
  }
});

test("every screen ran under the dashboard's Content-Security-Policy without a violation", async () => {
  const policy = readFileSync(new URL("../csp.txt", import.meta.url), "utf8").trim();
  for (const path of ["/", "/book", `/appointments/${patientId(1)}`]) {
    const response = await fetch(BASE + path);
    assert.equal(response.headers.get("content-security-policy"), policy, `${path} is served under the policy`);
  }
  assert.deepEqual(cspViolations, [], "the browser blocked nothing the dashboard does");
});
