// The prescriber's call page: admit the waiting patient, talk, end the visit.
import { openBestDevices } from "./device-check.js";
import { VisitCall, stopStream, wireMediaButtons } from "./call-core.js";
import { wireQuality } from "./call-quality.js";
import { confirmAction } from "./confirm.js";

const app = document.getElementById("call-app");
const $ = (id) => document.getElementById(id);
const visitId = Number(app.dataset.visitId);
let autoAdmit = app.dataset.autoAdmit === "true";
const statusLine = $("call-status");
const admitButton = $("admit");

function say(text) {
  statusLine.textContent = text;
}

if (autoAdmit) {
  // A reload must not admit again by itself.
  window.history.replaceState(null, "", window.location.pathname);
}

function describe(status) {
  switch (status) {
    case "booked":
      return "The patient has not checked in yet. This page tells you when they do.";
    case "waiting":
      return "The patient is in the waiting room.";
    case "in_progress":
      return "Reconnecting to the call…";
    default:
      return "";
  }
}

async function admit() {
  admitButton.disabled = true;
  say("Admitting the patient…");
  const ack = await call.admit();
  admitButton.disabled = false;
  if (!ack.ok) {
    say((ack.error && ack.error.message) || "The patient could not be admitted. Try again.");
    return;
  }
  admitButton.hidden = true;
}

function finished(message) {
  stopStream(localStream);
  for (const id of ["mute", "camera-toggle", "end-visit", "admit", "play-remote"]) $(id).hidden = true;
  say(message);
}

say("Starting your camera and microphone…");
const localStream = await openBestDevices($("device-help"));
const selfVideo = $("self-video");
if (localStream && localStream.getVideoTracks().length) {
  selfVideo.srcObject = localStream;
} else {
  selfVideo.hidden = true;
}
wireMediaButtons(localStream, $("mute"), $("camera-toggle"));

const call = new VisitCall({ visitId, localStream, remoteVideo: $("remote-video") });
call.addEventListener("status", (e) => say(e.detail.text));
wireQuality(call, $("quality-note"), $("audio-only"));
call.addEventListener("joined", (e) => {
  const status = e.detail.status;
  if (status === "waiting" && !call.admitted) {
    if (autoAdmit) {
      autoAdmit = false;
      admit();
    } else {
      admitButton.hidden = false;
      say(describe(status));
    }
  } else if (!call.admitted) {
    say(describe(status));
  }
});
call.addEventListener("waiting_room", (e) => {
  if (e.detail.visit_id !== visitId || call.admitted) return;
  const panel = document.querySelector("[data-record-panel]");
  if (panel && panel.dataset.canWrite !== "true" && !sessionStorage.getItem(`checked-in:${visitId}`)) {
    // The page was opened before the patient checked in: the note, orders and the state the
    // patient attested only now apply. No call is running yet, so a reload loses nothing.
    sessionStorage.setItem(`checked-in:${visitId}`, "1");
    window.location.reload();
    return;
  }
  admitButton.hidden = false;
  say("The patient is in the waiting room. Admit them when you are ready.");
});
call.addEventListener("visit_status", (e) => {
  if (e.detail.visit_id === visitId && e.detail.status === "in_progress") say("Connected.");
});
call.addEventListener("admitted", () => {
  admitButton.hidden = true;
});
call.addEventListener("remote_track", () => {
  $("remote-placeholder").hidden = true;
});
call.addEventListener("peer_left", (e) => {
  if (e.detail.role === "patient") {
    say("The patient's connection dropped or they left. They can rejoin with their link.");
  }
});
call.addEventListener("peer_joined", (e) => {
  if (e.detail.role === "patient" && call.admitted) say("The patient is back. Reconnecting…");
});
call.addEventListener("autoplay_blocked", () => {
  $("play-remote").hidden = false;
});
call.addEventListener("ended", () => {
  finished("The visit has ended.");
  $("call-ended").hidden = false;
});
call.addEventListener("replaced", () => {
  finished("This visit is open in another tab.");
  $("call-replaced").hidden = false;
});
call.addEventListener("join_refused", (e) => {
  finished(e.detail.message || "This visit cannot be joined now.");
});
call.addEventListener("signed_out", () => {
  finished("You were signed out. Sign in again, then reopen the visit.");
});

admitButton.addEventListener("click", admit);
$("play-remote").addEventListener("click", () => {
  $("play-remote").hidden = true;
  $("remote-video").play().catch(() => {});
});
$("end-visit").addEventListener("click", async () => {
  const sure = await confirmAction({
    title: "End the visit for both of you?",
    text: "The call stops for you and the patient; you can still finish the note.",
    confirm: "Yes, end visit",
    cancel: "Keep talking",
  });
  if (!sure) return;
  $("end-visit").disabled = true;
  const ack = await call.endVisit();
  $("end-visit").disabled = false;
  if (!ack.ok && !call.finished) {
    say((ack.error && ack.error.message) || "The visit could not be ended. Try again.");
  }
  // On success the server sends `visit_ended` to both sides.
});
$("use-here").addEventListener("click", () => window.location.reload());
window.addEventListener("pagehide", () => call.stop());

call.connect();
