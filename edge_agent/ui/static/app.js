// The kiosk page: renders the screens the agent pushes over a WebSocket.
// Personal data arrives only with the result screen; it is written with textContent and removed
// from the page (and from every variable) as soon as another screen comes or the link drops.
"use strict";

const TEXTS = {
  id: {
    brand: "Verifikasi KTP-el",
    lang_button: "English",
    "connecting.title": "Menyiapkan kios…",
    "connecting.hint": "Mohon tunggu sebentar.",
    "idle.title": "Masukkan KTP-el Anda ke pembaca kartu",
    "idle.hint": "Chip kartu menghadap ke atas dan masuk lebih dulu.",
    "idle.take_title": "Silakan ambil kartu Anda",
    "idle.take_hint": "Terima kasih. Kios siap untuk warga berikutnya.",
    "reading.title": "Membaca kartu…",
    "reading.hint": "Jangan cabut kartu Anda.",
    "finger.right_index": "Letakkan jari telunjuk kanan pada sensor",
    "finger.left_index": "Letakkan jari telunjuk kiri pada sensor",
    "finger.hint": "Tempelkan jari dengan lembut dan tahan sampai selesai.",
    "finger.mismatch": "Sidik jari tidak cocok. Silakan coba lagi.",
    "finger.poor_image": "Sidik jari kurang jelas. Bersihkan jari, lalu coba lagi.",
    "finger.tries_left": "Sisa percobaan: {n}",
    "finger.use.right_index": "Pakai telunjuk kanan",
    "finger.use.left_index": "Pakai telunjuk kiri",
    cancel: "Batal",
    "querying.title": "Memeriksa data…",
    "querying.hint": "Mohon tunggu, jangan cabut kartu.",
    done: "Selesai",
    "result.closing": "Layar ini ditutup dalam {n} detik.",
  },
  en: {
    brand: "KTP-el verification",
    lang_button: "Bahasa Indonesia",
    "connecting.title": "Preparing the kiosk…",
    "connecting.hint": "Please wait a moment.",
    "idle.title": "Insert your KTP-el into the card reader",
    "idle.hint": "Chip facing up, chip end first.",
    "idle.take_title": "Please take your card",
    "idle.take_hint": "Thank you. The kiosk is ready for the next citizen.",
    "reading.title": "Reading the card…",
    "reading.hint": "Do not remove your card.",
    "finger.right_index": "Place your right index finger on the sensor",
    "finger.left_index": "Place your left index finger on the sensor",
    "finger.hint": "Press gently and hold until it is done.",
    "finger.mismatch": "The fingerprint does not match. Please try again.",
    "finger.poor_image": "The fingerprint is not clear. Clean your finger and try again.",
    "finger.tries_left": "Tries left: {n}",
    "finger.use.right_index": "Use right index finger",
    "finger.use.left_index": "Use left index finger",
    cancel: "Cancel",
    "querying.title": "Checking your data…",
    "querying.hint": "Please wait, do not remove your card.",
    done: "Done",
    "result.closing": "This screen closes in {n} seconds.",
  },
};

const ELEMENT_LABELS = {
  no_kk: ["Nomor KK", "Family card number"],
  nik: ["NIK", "NIK"],
  nama_lengkap: ["Nama lengkap", "Full name"],
  jenis_kelamin: ["Jenis kelamin", "Sex"],
  tempat_lahir: ["Tempat lahir", "Place of birth"],
  tanggal_lahir: ["Tanggal lahir", "Date of birth"],
  pekerjaan: ["Pekerjaan", "Occupation"],
  status_kawin: ["Status perkawinan", "Marital status"],
  alamat: ["Alamat", "Address"],
  nama_provinsi: ["Provinsi", "Province"],
  nama_kabupaten: ["Kabupaten/Kota", "Regency/City"],
  nama_kecamatan: ["Kecamatan", "District"],
  nama_kelurahan: ["Kelurahan/Desa", "Village"],
  kode_kecamatan: ["Kode kecamatan", "District code"],
  rt: ["RT", "RT"],
  rw: ["RW", "RW"],
};

let defaultLang = "id";
let lang = "id";
let current = null; // the screen shown now; holds personal data only on the result screen
let socket = null;
let countdown = null;
let closingLeft = 0;
let retryDelay = 500;

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

function clearPersonal() {
  $("result-elements").replaceChildren();
  renderBalikan(null);
  $("result-text").textContent = "";
  $("result-hint").textContent = "";
  if (countdown !== null) {
    clearInterval(countdown);
    countdown = null;
  }
}

function translateStatic() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-t]")) {
    node.textContent = t(node.dataset.t);
  }
}

function renderIdle(msg) {
  const take = msg.card_present === true;
  $("idle-title").textContent = t(take ? "idle.take_title" : "idle.title");
  $("idle-hint").textContent = t(take ? "idle.take_hint" : "idle.hint");
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

function renderResult(msg) {
  document.body.dataset.success = msg.success ? "yes" : "no";
  $("result-text").textContent = pick(msg.text);
  $("result-hint").textContent = pick(msg.hint);
  const list = $("result-elements");
  list.replaceChildren();
  for (const [name, value] of msg.elements || []) {
    const label = ELEMENT_LABELS[name];
    const dt = document.createElement("dt");
    dt.textContent = label ? label[lang === "en" ? 1 : 0] : name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
  renderBalikan(msg.balikan || null);
  const count = list.childElementCount / 2;
  list.hidden = count === 0;
  const section = $("screen-result");
  section.dataset.elements = count === 0 ? "none" : count > 8 ? "many" : "some";
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

function showClosing() {
  $("result-closing").textContent = t("result.closing", closingLeft);
}

function startCountdown(seconds) {
  closingLeft = Math.max(0, Math.round(seconds));
  showClosing();
  countdown = setInterval(() => {
    closingLeft = Math.max(0, closingLeft - 1);
    showClosing();
  }, 1000);
}

function renderDeactivated(msg) {
  $("deactivated-text").textContent = pick(msg.text);
  $("deactivated-hint").textContent = pick(msg.hint);
}

function render(msg, fresh) {
  const previous = current ? current.screen : null;
  if (previous === "result" && (msg === null || msg.screen !== "result")) {
    clearPersonal();
  }
  if (msg !== null && msg.screen === "idle" && previous !== null && previous !== "idle") {
    lang = defaultLang; // the next citizen starts in the default language
    translateStatic();
  }
  current = msg;
  const screen = msg === null ? "connecting" : msg.screen;
  document.body.dataset.screen = screen;
  if (msg === null) return;
  if (screen === "idle") renderIdle(msg);
  else if (screen === "finger") renderFinger(msg);
  else if (screen === "result") {
    renderResult(msg);
    if (fresh) {
      if (countdown !== null) clearInterval(countdown);
      startCountdown(msg.seconds || 0);
    } else {
      showClosing();
    }
  } else if (screen === "deactivated") renderDeactivated(msg);
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
      if (current === null) {
        lang = defaultLang;
        translateStatic();
      }
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

function init() {
  $("lang").addEventListener("click", () => {
    lang = lang === "id" ? "en" : "id";
    translateStatic();
    if (current !== null) render(current, false);
  });
  $("finger-switch").addEventListener("click", (event) => {
    const finger = event.currentTarget.dataset.finger;
    if (finger) send({ type: "select_finger", finger });
  });
  $("finger-cancel").addEventListener("click", () => send({ type: "cancel" }));
  $("result-done").addEventListener("click", () => send({ type: "cancel" }));
  translateStatic();
  connect();
}

document.addEventListener("DOMContentLoaded", init);
