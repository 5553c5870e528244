// Upload with a progress bar and drag and drop; live progress for a running conversion.
// Everything here is an enhancement: without JavaScript the forms and the refresh link work.
(function () {
  "use strict";

  var enhanceUpload = function () {
    var form = document.getElementById("upload-form");
    if (!form) { return; }
    var input = form.querySelector('input[type="file"]');
    var zone = document.getElementById("drop-zone");
    var bar = document.getElementById("upload-progress");
    var error = document.getElementById("file-error");
    var maxBytes = parseInt(form.dataset.maxBytes, 10);
    var submitter = null;

    var showError = function (text) {
      error.textContent = text;
      input.classList.add("is-invalid");
      input.setAttribute("aria-invalid", "true");
    };

    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("drop-zone-active");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("drop-zone-active"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
      }
    });
    form.querySelectorAll('[type="submit"]').forEach(function (button) {
      button.addEventListener("click", function () { submitter = button; });
    });

    form.addEventListener("submit", function (event) {
      var file = input.files[0];
      if (!file) { return; }  // the server says what is missing
      if (maxBytes && file.size > maxBytes) {
        event.preventDefault();
        showError("The file is larger than the " + form.dataset.maxText + " limit.");
        return;
      }
      event.preventDefault();
      var data = new FormData(form);
      if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
      var request = new XMLHttpRequest();
      var fill = bar.querySelector(".progress-bar");
      bar.classList.remove("d-none");
      request.upload.addEventListener("progress", function (progress) {
        if (progress.lengthComputable) {
          var percent = Math.round(100 * progress.loaded / progress.total);
          fill.style.width = percent + "%";
          fill.textContent = percent + "%";
          bar.setAttribute("aria-valuenow", percent);
        }
      });
      request.addEventListener("load", function () {
        if (request.responseURL && request.responseURL.split("#")[0] !== form.action.split("#")[0]) {
          window.location.assign(request.responseURL);
          return;
        }
        // The form came back with a message: show it as the server rendered it.
        var page = new DOMParser().parseFromString(request.responseText, "text/html");
        var main = page.querySelector("main");
        if (main) {
          document.querySelector("main").replaceWith(document.adoptNode(main));
          enhanceUpload();
        }
      });
      request.addEventListener("error", function () {
        bar.classList.add("d-none");
        showError("The upload failed. Check your connection and try again.");
      });
      request.open("POST", form.action || window.location.href);
      request.send(data);
    });
  };
  enhanceUpload();

  var job = document.getElementById("job");
  if (job) {
    var progress = document.getElementById("job-progress");
    var fillBar = progress.querySelector(".progress-bar");
    var text = document.getElementById("job-text");
    var poll = function () {
      fetch(job.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (state) {
          fillBar.style.width = state.percent + "%";
          fillBar.textContent = state.percent + "%";
          progress.setAttribute("aria-valuenow", state.percent);
          if (state.status === "running" && state.total) {
            text.textContent = "Rows done: " + state.done.toLocaleString() + " of " + state.total.toLocaleString() + ".";
          }
          if (state.status === "done" || state.status === "failed") {
            window.location.reload();
          } else {
            window.setTimeout(poll, 1000);
          }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }
})();
