// The kiosk page: renders the screens the agent pushes over a WebSocket.
// Personal data arrives only with the result screen. It stays masked on the page: the values are
// written (with textContent) only while the citizen holds the reveal button, and they are removed
// from the page and from every variable as soon as another screen comes or the link drops.
"use strict";

const DOC = JSON.parse(document.getElementById("texts").textContent);
const TEXTS = { id: DOC.id, en: DOC.en };
const ELEMENT_LABELS = DOC.elements;
const MASK = "••••••••";
const WAITING = ["notice", "reading", "finger", "querying", "result"];

let defaultLang = "id";
let lang = "id";
let voiceAllowed = false; // the agent's config
let voiceOn = true; // the citizen's switch (back on for the next citizen)
let current = null; // the screen shown now; holds personal data only on the result screen
let socket = null;
let retryDelay = 500;
let deadline = 0; // when the current step's wait ends (performance.now() milliseconds)
let ticker = null;
let revealed = false;
let spoken = "";
let visited = false; // a citizen used the kiosk since it last said it was ready
let ready = false; // "ready for the next citizen" is shown (only once the card is out)
let lastOutcome = ""; // of this citizen: after the last failed finger the next step stays shown
const player = new Audio();

const $ = (id) => document.getElementById(id);

function t(key, n) {
  const text = (TEXTS[lang] && TEXTS[lang][key]) || TEXTS.id[key] || key;
  return n === undefined ? text : text.replace("{n}", String(n));
}

function pick(pair) {
  // A server text {id, en} in the current language.
  return (pair && (pair[lang] || pair.id)) || "";
}

function send(obj) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(obj));
  }
}

// --- voice -------------------------------------------------------------------------------------

function promptKey(msg) {
  if (msg === null) return "";
  switch (msg.screen) {
    case "idle":
      return msg.card_present ? "take_card" : "idle";
    case "finger":
      return "finger." + msg.finger + (msg.problem ? "." + msg.problem : "");
    case "result":
    case "deactivated":
      return "result." + msg.outcome;
    default:
      return msg.screen;
  }
}

function speak(key, again) {
  const mark = key + "|" + lang;
  if (!key || (!again && mark === spoken)) return;
  spoken = mark;
  player.pause();
  if (!voiceAllowed || !voiceOn) return;
  player.src = `/voice/${lang}/${key}.wav`;
  document.body.dataset.spoken = `${lang}/${key}`;
  player.play().catch(() => {});
}

function showVoice() {
  const button = $("voice");
  button.hidden = !voiceAllowed;
  button.setAttribute("aria-pressed", voiceOn ? "true" : "false");
  button.textContent = t(voiceOn ? "voice_on" : "voice_off");
}

// --- countdown ---------------------------------------------------------------------------------

function tick() {
  const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
  for (const node of document.querySelectorAll(".countdown")) {
    node.textContent = t(node.id === "result-closing" ? "result.closing" : "countdown", left);
  }
}

function startCountdown(seconds) {
  deadline = performance.now() + Math.max(0, seconds) * 1000;
  if (ticker === null) ticker = setInterval(tick, 250);
  tick();
}

function stopCountdown() {
  if (ticker !== null) clearInterval(ticker);
  ticker = null;
  for (const node of document.querySelectorAll(".countdown")) node.textContent = "";
}

// --- screens -----------------------------------------------------------------------------------

function clearPersonal() {
  revealed = false;
  $("result-elements").replaceChildren();
  renderBalikan(null);
  $("result-text").textContent = "";
  $("result-hint").textContent = "";
}

function translateStatic() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-t]")) {
    node.textContent = t(node.dataset.t);
  }
  const help = $("help-contact");
  help.textContent = help.dataset.help || t("help_default");
  showVoice();
}

function renderIdle(msg) {
  const take = msg.card_present === true;
  $("idle-title").textContent = t(take ? "idle.take_title" : "idle.title");
  $("idle-hint").textContent = t(take ? "idle.take_hint" : "idle.hint");
  const line = $("idle-ready");
  line.hidden = take || !ready;
  line.textContent = line.hidden ? "" : t("idle.ready");
  const next = $("idle-next");
  next.hidden = !(take && lastOutcome === "FINGER_MISMATCH");
  next.textContent = next.hidden ? "" : t("failed.next");
}

function renderFinger(msg) {
  $("finger-title").textContent = t("finger." + msg.finger);
  const problem = $("finger-problem");
  problem.hidden = !msg.problem;
  problem.textContent = msg.problem ? t("finger." + msg.problem) : "";
  $("finger-tries").textContent = t("finger.tries_left", msg.tries_left);
  const other = (msg.fingers || []).find((f) => f !== msg.finger);
  const button = $("finger-switch");
  button.hidden = !other;
  button.dataset.finger = other || "";
  button.textContent = other ? t("finger.use." + other) : "";
}

function renderElements(msg) {
  const list = $("result-elements");
  list.replaceChildren();
  for (const [name, value] of msg.elements || []) {
    const label = ELEMENT_LABELS[name];
    const dt = document.createElement("dt");
    dt.textContent = label ? label[lang === "en" ? 1 : 0] : name;
    const dd = document.createElement("dd");
    dd.textContent = revealed ? value : MASK;
    dd.className = revealed ? "" : "masked";
    list.append(dt, dd);
  }
  renderBalikan(msg.balikan || null);
  const count = list.childElementCount / 2;
  list.hidden = count === 0;
  $("result-reveal").hidden = count === 0;
  $("result-masked").hidden = count === 0 || revealed;
  const section = $("screen-result");
  section.dataset.elements = count === 0 ? "none" : count > 8 ? "many" : "some";
}

function renderResult(msg) {
  document.body.dataset.family = msg.family || "fault";
  $("result-family").textContent = t("family." + (msg.family || "fault"));
  $("result-text").textContent = pick(msg.text);
  $("result-hint").textContent = pick(msg.hint);
  const failed = msg.outcome === "FINGER_MISMATCH";
  $("result-failed").hidden = !failed;
  $("result-glass").hidden = !(failed && msg.problem === "poor_image");
  renderElements(msg);
}

function renderBalikan(balikan) {
  // Data balikan: the institution's answer (its number for the citizen, or why there is none).
  $("result-balikan").hidden = balikan === null;
  $("balikan-text").textContent = balikan ? pick(balikan.text) : "";
  $("balikan-hint").textContent = balikan ? pick(balikan.hint) : "";
  const number = balikan ? balikan.number : null;
  $("balikan-label").textContent = number ? pick(balikan.label) + ":" : "";
  $("balikan-number").textContent = number || "";
}

function renderDeactivated(msg) {
  $("deactivated-text").textContent = pick(msg.text);
  $("deactivated-hint").textContent = pick(msg.hint);
}

function reveal(on) {
  if (revealed === on || current === null || current.screen !== "result") return;
  revealed = on;
  renderElements(current);
}

function render(msg, fresh) {
  const previous = current ? current.screen : null;
  if (previous === "result" && (msg === null || msg.screen !== "result")) {
    clearPersonal();
  }
  if (msg !== null && msg.screen === "idle" && previous !== null && previous !== "idle") {
    lang = defaultLang; // the next citizen starts in the default language, with the voice on
    voiceOn = true;
    translateStatic();
  }
  if (fresh && msg !== null && msg.screen !== "deactivated") {
    if (msg.screen === "idle" && msg.card_present !== true) {
      ready = ready || visited; // the card is out: the kiosk is ready for the next citizen
      visited = false;
      lastOutcome = "";
    } else {
      visited = true;
      ready = false;
    }
  }
  current = msg;
  const screen = msg === null ? "connecting" : msg.screen;
  document.body.dataset.screen = screen;
  if (!document.activeElement || document.activeElement.offsetParent === null) {
    document.activeElement && document.activeElement.blur(); // a hidden control keeps no focus
  }
  if (msg === null) {
    stopCountdown();
    player.pause();
    spoken = "";
    return;
  }
  if (screen === "idle") renderIdle(msg);
  else if (screen === "finger") renderFinger(msg);
  else if (screen === "result") {
    lastOutcome = msg.outcome || "";
    renderResult(msg);
  }
  else if (screen === "deactivated") {
    document.body.dataset.family = msg.family || "refused";
    renderDeactivated(msg);
  }
  if (fresh) {
    if (WAITING.includes(screen)) startCountdown(msg.seconds || 0);
    else stopCountdown();
    speak(promptKey(msg), screen === "finger");
  } else {
    tick();
  }
}

function connect() {
  socket = new WebSocket(`ws://${location.host}/ws`);
  socket.addEventListener("open", () => {
    retryDelay = 500;
  });
  socket.addEventListener("message", (event) => {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    if (msg.type === "hello") {
      defaultLang = msg.language === "en" ? "en" : "id";
      voiceAllowed = msg.voice === true;
      if (current === null) {
        lang = defaultLang;
        translateStatic();
      }
      showVoice();
    } else if (msg.type === "screen") {
      render(msg, true);
    }
  });
  socket.addEventListener("close", () => {
    socket = null;
    render(null, true); // the link is gone: nothing personal stays on the page
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  });
}

function holdToReveal(button) {
  const on = (event) => {
    if (event.type === "keydown" && (event.repeat || (event.key !== " " && event.key !== "Enter"))) {
      return;
    }
    event.preventDefault();
    reveal(true);
  };
  const off = () => reveal(false);
  button.addEventListener("pointerdown", on);
  button.addEventListener("keydown", on);
  for (const kind of ["pointerup", "pointercancel", "pointerleave", "keyup", "blur"]) {
    button.addEventListener(kind, off);
  }
  button.addEventListener("contextmenu", (event) => event.preventDefault());
}

function init() {
  $("lang").addEventListener("click", () => {
    lang = lang === "id" ? "en" : "id";
    translateStatic();
    if (current !== null) {
      render(current, false);
      speak(promptKey(current), false);
    }
  });
  $("voice").addEventListener("click", () => {
    voiceOn = !voiceOn;
    showVoice();
    if (voiceOn) speak(promptKey(current), true);
    else player.pause();
  });
  $("notice-accept").addEventListener("click", () => send({ type: "accept_notice" }));
  $("notice-cancel").addEventListener("click", () => send({ type: "cancel" }));
  $("finger-switch").addEventListener("click", (event) => {
    const finger = event.currentTarget.dataset.finger;
    if (finger) send({ type: "select_finger", finger });
  });
  $("finger-cancel").addEventListener("click", () => send({ type: "cancel" }));
  $("result-done").addEventListener("click", () => send({ type: "cancel" }));
  holdToReveal($("result-reveal"));
  translateStatic();
  connect();
}

document.addEventListener("DOMContentLoaded", init);
