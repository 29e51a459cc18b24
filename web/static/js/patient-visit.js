// The patient's visit page: device check → check-in (where are you now?) → waiting room → call.
import { DeviceCheck } from "./device-check.js";
import { api } from "./api.js";
import { VisitCall, stopStream, wireMediaButtons } from "./call-core.js";
import { wireQuality } from "./call-quality.js";

const app = document.getElementById("visit-app");
const $ = (id) => document.getElementById(id);
const visitId = Number(app.dataset.visitId);
let visitStatus = app.dataset.status;
// The server says whether the patient has checked in already (a reload of a visit under way).
let checkedIn = app.dataset.checkedIn === "true";
const statusLine = $("call-status");
const steps = ["step-devices", "step-checkin", "step-call", "step-ended", "step-left", "step-replaced"];

function say(text) {
  statusLine.textContent = text;
}

function show(...ids) {
  for (const id of steps) {
    const el = $(id);
    if (el) el.hidden = !ids.includes(id);
  }
  const first = ids.map($).find(Boolean);
  const heading = first && first.querySelector("h2");
  if (heading && !first.classList.contains("call-area")) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

const check = new DeviceCheck({
  preview: $("preview"),
  previewEmpty: $("preview-empty"),
  cameraSelect: $("camera-select"),
  micSelect: $("mic-select"),
  meter: $("mic-level"),
  help: $("device-help"),
  retry: $("devices-retry"),
  continue: $("devices-continue"),
  audioOnly: $("devices-audio-only"),
});

let localStream = null;
let call = null;

function afterDevices() {
  localStream = check.finish();
  if (checkedIn) {
    startCall();
  } else {
    show("step-checkin");
    say("Step 2 of 3: tell us where you are, then check in.");
  }
}

$("devices-continue").addEventListener("click", afterDevices);
$("devices-audio-only").addEventListener("click", afterDevices);

check.addEventListener("started", (event) => {
  if (event.detail.audioOnly) {
    say("No camera found. You can continue with audio only.");
  } else {
    say("Your camera is on. Check the picture and the microphone level, then continue.");
    // Coming back to a visit already under way (a reload): go straight back in.
    if (checkedIn) afterDevices();
  }
});

$("checkin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("checkin-error");
  error.hidden = true;
  const button = event.submitter || event.target.querySelector("button[type=submit]");
  button.disabled = true;
  let data;
  try {
    data = await api("POST", `/api/visits/${visitId}/check-in`, { location_state: $("location_state").value });
  } catch (refused) {
    button.disabled = false;
    error.textContent = refused.messageOr("Check-in did not work. Check your connection and try again.");
    error.hidden = false;
    error.focus && error.focus();
    return;
  }
  button.disabled = false;
  checkedIn = true;
  visitStatus = data.status || "waiting";
  startCall();
});

function startCall() {
  show("step-call");
  $("waiting-note").hidden = visitStatus === "in_progress";
  const selfVideo = $("self-video");
  const hasVideo = localStream && localStream.getVideoTracks().length > 0;
  selfVideo.hidden = !hasVideo;
  if (hasVideo) selfVideo.srcObject = localStream;
  say("You are checked in. Waiting for your prescriber to let you in…");
  wireMediaButtons(localStream, $("mute"), $("camera-toggle"));

  call = new VisitCall({ visitId, localStream, remoteVideo: $("remote-video") });
  call.addEventListener("status", (e) => say(e.detail.text));
  wireQuality(call, $("quality-note"), $("audio-only"));
  call.addEventListener("joined", (e) => {
    visitStatus = e.detail.status || visitStatus;
    if (!call.admitted) say("You are in the waiting room. Your prescriber will let you in shortly.");
  });
  call.addEventListener("admitted", () => {
    $("waiting-note").hidden = true;
  });
  call.addEventListener("remote_track", () => {
    $("remote-placeholder").hidden = true;
  });
  call.addEventListener("peer_left", (e) => {
    if (e.detail.role === "prescriber" && call.admitted) {
      say("Your prescriber's connection dropped. Stay on this page; they will be back shortly.");
    }
  });
  call.addEventListener("peer_joined", (e) => {
    if (e.detail.role === "prescriber" && call.admitted) say("Your prescriber is back. Reconnecting…");
  });
  call.addEventListener("autoplay_blocked", () => {
    $("play-remote").hidden = false;
  });
  call.addEventListener("ended", () => {
    stopStream(localStream);
    show("step-ended");
    say("The visit has ended.");
  });
  call.addEventListener("replaced", () => {
    stopStream(localStream);
    show("step-replaced");
  });
  call.addEventListener("join_refused", (e) => {
    stopStream(localStream);
    say(e.detail.message || "This visit cannot be joined now.");
  });
  call.addEventListener("signed_out", () => {
    stopStream(localStream);
    say("Your session has ended. Open the link from your invitation again to rejoin.");
  });
  call.connect();
}

$("play-remote").addEventListener("click", () => {
  $("play-remote").hidden = true;
  $("remote-video").play().catch(() => {});
});

$("hangup").addEventListener("click", async () => {
  if (!call) return;
  await call.leave();
  stopStream(localStream);
  show("step-left");
  say("You left the visit. You can rejoin while it is still open.");
});

$("rejoin").addEventListener("click", () => window.location.reload());
$("use-here").addEventListener("click", () => window.location.reload());

window.addEventListener("pagehide", () => {
  if (call) call.stop();
});

say("Step 1 of 3: starting your camera and microphone…");
check.start();
