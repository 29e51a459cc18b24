// Camera and microphone check: preview, a live microphone level, device pickers, and help
// a patient can act on when the browser refuses (permission) or finds no camera.

export function browserName() {
  const ua = navigator.userAgent;
  if (/Firefox\//.test(ua)) return "firefox";
  if (/Edg\//.test(ua)) return "edge";
  if (/(Chrome|Chromium|CriOS)\//.test(ua)) return "chrome";
  if (/Safari\//.test(ua)) return "safari";
  return "other";
}

const ALLOW_STEPS = {
  chrome: "In Chrome: click the camera icon (or the site icon) at the left of the address bar, " +
    "set Camera and Microphone to Allow, then press Try again.",
  edge: "In Edge: click the padlock at the left of the address bar, set Camera and " +
    "Microphone to Allow, then press Try again.",
  safari: "In Safari: open the Safari menu, choose Settings for this website (on iPhone or " +
    "iPad: tap the \u201CaA\u201D button, then Website Settings), set Camera and Microphone " +
    "to Allow, then press Try again.",
  firefox: "In Firefox: click the crossed-out camera icon at the left of the address bar, " +
    "clear the \u201CBlocked\u201D permissions, then press Try again and choose Allow.",
};

const SYSTEM_STEPS = "If the browser is allowed and it still fails, your computer may block the " +
  "browser itself: on a Mac, open System Settings \u2192 Privacy & Security \u2192 Camera (and " +
  "Microphone) and switch your browser on; on Windows, open Settings \u2192 Privacy \u2192 " +
  "Camera (and Microphone) and allow desktop apps.";

export function explainMediaError(err) {
  const name = (err && err.name) || "Error";
  const browser = browserName();
  if (name === "NotAllowedError" || name === "PermissionDeniedError") {
    const mine = ALLOW_STEPS[browser] || ALLOW_STEPS.chrome;
    const others = Object.entries(ALLOW_STEPS)
      .filter(([key]) => key !== browser)
      .map(([, text]) => text);
    return {
      kind: "denied",
      title: "Your browser is not allowing this page to use your camera and microphone.",
      steps: [mine, SYSTEM_STEPS],
      others,
    };
  }
  if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
    return {
      kind: "missing",
      title: "We could not find a camera.",
      steps: [
        "If you have one, plug it in (or close the laptop lid's privacy shutter), then press Try again.",
        "You can also continue with audio only: your prescriber will hear you but not see you.",
      ],
      others: [],
    };
  }
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
    return {
      kind: "busy",
      title: "Your camera or microphone is in use by another app.",
      steps: ["Close other video apps (for example Zoom, Teams or FaceTime) and other tabs " +
        "using the camera, then press Try again."],
      others: [],
    };
  }
  if (name === "SecurityError" || name === "TypeError") {
    return {
      kind: "insecure",
      title: "This browser will not use a camera on this page.",
      steps: ["Open the visit link exactly as you received it (it starts with https://), in " +
        "an up-to-date Chrome, Safari, Firefox or Edge."],
      others: [],
    };
  }
  return {
    kind: "other",
    title: "Your camera or microphone could not be started.",
    steps: ["Press Try again. If it keeps failing, restart your browser or use another device."],
    others: [],
  };
}

export function renderHelp(container, help) {
  container.replaceChildren();
  const title = document.createElement("p");
  const strong = document.createElement("strong");
  strong.textContent = help.title;
  title.append(strong);
  container.append(title);
  for (const step of help.steps) {
    const p = document.createElement("p");
    p.textContent = step;
    container.append(p);
  }
  if (help.others.length) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "Using another browser?";
    details.append(summary);
    for (const step of help.others) {
      const p = document.createElement("p");
      p.textContent = step;
      details.append(p);
    }
    container.append(details);
  }
  container.hidden = false;
}

// A live level meter on a <meter> (0..1) from an AnalyserNode; returns a stop function.
export function startLevelMeter(stream, meter) {
  const tracks = stream ? stream.getAudioTracks() : [];
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!tracks.length || !Context || !meter) return () => {};
  const context = new Context();
  const source = context.createMediaStreamSource(new MediaStream(tracks));
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let frame = 0;
  const resume = () => context.state === "suspended" && context.resume();
  document.addEventListener("pointerdown", resume, { once: true });
  document.addEventListener("keydown", resume, { once: true });
  resume();
  const tick = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const rms = Math.sqrt(sum / samples.length);
    const level = Math.min(1, rms * 4);
    meter.value = level;
    meter.textContent = level > 0.05 ? "sound" : "silent";
    frame = requestAnimationFrame(tick);
  };
  tick();
  return () => {
    cancelAnimationFrame(frame);
    source.disconnect();
    context.close();
  };
}

function fillSelect(select, devices, kind, chosenId, fallbackLabel) {
  const list = devices.filter((d) => d.kind === kind);
  select.replaceChildren();
  list.forEach((device, index) => {
    const option = document.createElement("option");
    option.value = device.deviceId;
    option.textContent = device.label || `${fallbackLabel} ${index + 1}`;
    if (device.deviceId === chosenId) option.selected = true;
    select.append(option);
  });
  select.disabled = list.length === 0;
  if (!list.length) {
    const option = document.createElement("option");
    option.value = "";
    option.textContent = `No ${fallbackLabel.toLowerCase()} found`;
    select.append(option);
  }
}

// The device-check step. `els`: preview, previewEmpty, cameraSelect, micSelect, meter,
// help, retry, continue, audioOnly. Dispatches "ready" with {stream, audioOnly}.
export class DeviceCheck extends EventTarget {
  constructor(els) {
    super();
    this.els = els;
    this.stream = null;
    this.audioOnly = false;
    this.stopMeter = () => {};
    els.retry.addEventListener("click", () => this.start());
    els.cameraSelect.addEventListener("change", () => this.start());
    els.micSelect.addEventListener("change", () => this.start());
  }

  constraints() {
    const camera = this.els.cameraSelect.value;
    const mic = this.els.micSelect.value;
    return {
      video: camera ? { deviceId: { exact: camera } } : { width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: mic ? { deviceId: { exact: mic }, echoCancellation: true } : { echoCancellation: true },
    };
  }

  release() {
    this.stopMeter();
    this.stopMeter = () => {};
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
  }

  async start() {
    const els = this.els;
    this.release();
    this.audioOnly = false;
    els.help.hidden = true;
    els.retry.hidden = true;
    els.audioOnly.hidden = true;
    els.continue.disabled = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      renderHelp(els.help, explainMediaError({ name: "SecurityError" }));
      return null;
    }
    const wanted = this.constraints();
    try {
      this.stream = await navigator.mediaDevices.getUserMedia(wanted);
    } catch (err) {
      const help = explainMediaError(err);
      if (help.kind === "missing") {
        // No camera: see whether a microphone alone works.
        try {
          this.stream = await navigator.mediaDevices.getUserMedia({ audio: wanted.audio });
          this.audioOnly = true;
        } catch (audioErr) {
          renderHelp(els.help, explainMediaError(audioErr));
          els.retry.hidden = false;
          return null;
        }
        renderHelp(els.help, help);
        els.retry.hidden = false;
        els.audioOnly.hidden = false;
      } else {
        renderHelp(els.help, help);
        els.retry.hidden = false;
        return null;
      }
    }
    els.preview.srcObject = this.audioOnly ? null : this.stream;
    els.preview.hidden = this.audioOnly;
    if (els.previewEmpty) els.previewEmpty.hidden = !this.audioOnly;
    this.stopMeter = startLevelMeter(this.stream, els.meter);
    await this.refreshDevices();
    if (!this.audioOnly) els.continue.disabled = false;
    this.dispatchEvent(new CustomEvent("started", { detail: { audioOnly: this.audioOnly } }));
    return this.stream;
  }

  async refreshDevices() {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      const videoTrack = this.stream && this.stream.getVideoTracks()[0];
      const audioTrack = this.stream && this.stream.getAudioTracks()[0];
      fillSelect(this.els.cameraSelect, devices, "videoinput",
        videoTrack && videoTrack.getSettings().deviceId, "Camera");
      fillSelect(this.els.micSelect, devices, "audioinput",
        audioTrack && audioTrack.getSettings().deviceId, "Microphone");
    } catch (err) {
      console.warn("could not list devices", err);
    }
  }

  // Hand the stream over to the call; the meter stops, the tracks keep running.
  finish() {
    this.stopMeter();
    this.stopMeter = () => {};
    const stream = this.stream;
    this.stream = null;
    return stream;
  }
}

// For the prescriber's page: camera and microphone, else microphone, else nothing.
export async function openBestDevices(helpContainer) {
  try {
    return await navigator.mediaDevices.getUserMedia({ video: true, audio: { echoCancellation: true } });
  } catch (err) {
    const help = explainMediaError(err);
    if (helpContainer) renderHelp(helpContainer, help);
    if (help.kind === "missing") {
      try {
        return await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch {
        return null;
      }
    }
    return null;
  }
}
