// img2tex serve: send an image to POST /predict, show the LaTeX, a KaTeX preview and the confidence.
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

async function send(file) {
  if (!file) return;
  $("thumb").src = URL.createObjectURL(file);
  $("thumb").hidden = false;
  setStatus("Reading the formula...");
  const body = new FormData();
  body.append("image", file, file.name || "pasted.png");
  try {
    const response = await fetch($("verify").checked ? "predict?verify=1" : "predict", { method: "POST", body });
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
