// img2tex serve: send an image to POST /predict, show the LaTeX, a KaTeX preview and the confidence.
// Where the server has a handwritten model, a drawing pad sends what is written on it to that model.
"use strict";
const $ = (id) => document.getElementById(id);
let answer = null; // the last answer of POST /predict

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

function showPreview(latex) {
  try {
    katex.render(latex, $("preview"), { displayMode: true, throwOnError: true });
  } catch (err) {
    $("preview").textContent = "KaTeX cannot preview this LaTeX (" + err.message + ")";
  }
}

function predictUrl(model) {
  const query = new URLSearchParams();
  if ($("verify").checked) query.set("verify", "1");
  if (model && model !== "default") query.set("model", model);
  const text = query.toString();
  return text ? "predict?" + text : "predict";
}

// `model`: the server's model to read it with (default: the one "Images are" names).
async function send(file, model) {
  if (!file) return;
  $("thumb").src = URL.createObjectURL(file);
  $("thumb").hidden = false;
  setStatus("Reading the formula...");
  const body = new FormData();
  body.append("image", file, file.name || "pasted.png");
  try {
    const response = await fetch(predictUrl(model || $("kind").value), { method: "POST", body });
    const data = await response.json();
    if (!response.ok) {
      setStatus(data.error || "error " + response.status, true);
      return;
    }
    $("latex").value = data.latex;
    answer = data;
    $("confidence").textContent = "confidence " + Math.round(100 * data.confidence) + "%";
    showPreview(data.latex);
    $("result").hidden = false;
    setStatus("Done.");
  } catch (err) {
    setStatus("The server did not answer (" + err.message + ")", true);
  }
}

$("file").addEventListener("change", (e) => send(e.target.files[0]));
$("latex").addEventListener("input", (e) => showPreview(e.target.value));
// The text "Copy" puts on the clipboard: the LaTeX as shown (edits included), or the server's
// MathML of the model's answer (which an edit of the LaTeX makes stale: then it says so).
function copyText() {
  if ($("copy-as").value !== "mathml") return $("latex").value;
  if (!answer || answer.latex !== $("latex").value) throw new Error("MathML is for the model's answer: undo the edit");
  if (!answer.mathml) throw new Error("this LaTeX does not convert to MathML");
  return answer.mathml;
}
$("copy").addEventListener("click", async () => {
  let text;
  try {
    text = copyText();
  } catch (err) {
    setStatus(err.message, true);
    return;
  }
  try {
    await navigator.clipboard.writeText(text);
    setStatus("Copied.");
  } catch (err) {
    $("latex").select();
    setStatus("Select-all done: press Ctrl+C to copy.");
  }
});
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => send(e.dataTransfer.files[0]));
document.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData || {}).items || []].find((i) => i.type.startsWith("image/"));
  if (item) send(item.getAsFile());
});

// The drawing pad: strokes as lists of points in canvas pixels, drawn black on white; a pause
// after the pen lifts (or "Read") sends the picture to the handwritten model.
const pad = $("pad");
const strokes = [];
let stroke = null;
let readTimer = null;

function padPoint(e) {
  const box = pad.getBoundingClientRect();
  return [((e.clientX - box.left) * pad.width) / box.width, ((e.clientY - box.top) * pad.height) / box.height];
}

function redraw() {
  const ctx = pad.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 3;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const points of strokes) {
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    for (const [x, y] of points.length > 1 ? points.slice(1) : [[points[0][0] + 0.5, points[0][1]]]) ctx.lineTo(x, y);
    ctx.stroke();
  }
}

function readPad() {
  clearTimeout(readTimer);
  if (!strokes.length) return;
  pad.toBlob((blob) => send(blob, "handwritten"), "image/png");
}

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  clearTimeout(readTimer);
  pad.setPointerCapture(e.pointerId);
  stroke = [padPoint(e)];
  strokes.push(stroke);
  redraw();
});
pad.addEventListener("pointermove", (e) => {
  if (!stroke) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
  for (const ev of events.length ? events : [e]) stroke.push(padPoint(ev));
  redraw();
});
["pointerup", "pointercancel"].forEach((t) =>
  pad.addEventListener(t, () => {
    if (!stroke) return;
    stroke = null;
    readTimer = setTimeout(readPad, 900);
  }),
);
$("pad-read").addEventListener("click", readPad);
$("pad-undo").addEventListener("click", () => { strokes.pop(); redraw(); });
$("pad-clear").addEventListener("click", () => { strokes.length = 0; redraw(); });
redraw();

// The pad and the printed/handwritten choice appear only where the server has a handwritten model.
fetch("health")
  .then((r) => r.json())
  .then((health) => {
    const handwritten = (health.models || []).includes("handwritten");
    $("pad-area").hidden = !handwritten;
    $("kind-option").hidden = !handwritten;
  })
  .catch(() => {});
