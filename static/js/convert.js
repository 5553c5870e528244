// Upload with a progress bar and drag and drop; live progress for a running conversion;
// options shown for the chosen format. Everything here is an enhancement: without JavaScript
// the forms, the "More options" section and the refresh link work.
(function () {
  "use strict";

  var sizeText = function (bytes) {
    var units = ["bytes", "KB", "MB", "GB"];
    var size = bytes;
    var unit = 0;
    while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit += 1; }
    return (unit ? size.toFixed(size < 10 ? 1 : 0) : size) + " " + units[unit];
  };

  var enhanceUpload = function () {
    var form = document.getElementById("upload-form");
    if (!form) { return; }
    var input = form.querySelector('input[type="file"]');
    var zone = document.getElementById("drop-zone");
    var bar = document.getElementById("upload-progress");
    var error = document.getElementById("file-error");
    var chosen = document.getElementById("file-chosen");
    var maxBytes = parseInt(form.dataset.maxBytes, 10);
    var maxRequest = parseInt(form.dataset.maxRequestBytes, 10);  // all files together
    var submitter = null;

    var showError = function (text) {
      error.textContent = text;
      input.classList.add("is-invalid");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "file-error");
    };
    var tooMuch = function (files) {
      var total = files.reduce(function (sum, file) { return sum + file.size; }, 0);
      return files.length > 1 && maxRequest && total > maxRequest;
    };
    var showChosen = function () {
      var files = Array.prototype.slice.call(input.files);
      if (chosen) {
        chosen.textContent = files.length === 1
          ? "Chosen: " + files[0].name + " (" + sizeText(files[0].size) + ")"
          : files.length ? "Chosen: " + files.length + " files, converted as a batch" : "";
      }
      var large = files.filter(function (file) { return maxBytes && file.size > maxBytes; });
      if (tooMuch(files)) {
        showError("Together these files are larger than the " + form.dataset.maxRequestText
          + " one upload may carry: upload fewer at once, or zip them.");
      } else if (large.length === 1 && files.length === 1) {
        showError("The file is larger than the " + form.dataset.maxText + " limit.");
      } else if (large.length) {
        showError(large.map(function (file) { return file.name; }).join(", ") + ": larger than the "
          + form.dataset.maxText + " limit; the other files are still taken.");
      }
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
        showChosen();
      }
    });
    input.addEventListener("change", showChosen);
    form.querySelectorAll('[type="submit"]').forEach(function (button) {
      button.addEventListener("click", function () { submitter = button; });
    });

    form.addEventListener("submit", function (event) {
      var file = input.files[0];
      if (!file) { return; }  // the server says what is missing
      event.preventDefault();
      if (maxBytes && input.files.length === 1 && file.size > maxBytes) {
        showError("The file is larger than the " + form.dataset.maxText + " limit.");
        input.focus();
        return;
      }
      if (tooMuch(Array.prototype.slice.call(input.files))) {
        showChosen();
        input.focus();
        return;
      }
      var data = new FormData(form);
      if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
      var request = new XMLHttpRequest();
      var fill = bar.querySelector(".progress-bar");
      bar.classList.remove("d-none");
      form.querySelectorAll('[type="submit"]').forEach(function (button) { button.disabled = true; });
      request.upload.addEventListener("progress", function (progress) {
        if (progress.lengthComputable) {
          var percent = Math.round(100 * progress.loaded / progress.total);
          fill.style.width = percent + "%";
          fill.textContent = percent + "%";
          bar.setAttribute("aria-valuenow", percent);
        }
      });
      request.addEventListener("load", function () {
        var type = request.getResponseHeader("Content-Type") || "";
        if (request.status === 200 && type.indexOf("application/json") === 0) {
          window.location.assign(JSON.parse(request.responseText).next);
          return;
        }
        // The form came back with a message: show it as the server rendered it.
        var page = new DOMParser().parseFromString(request.responseText, "text/html");
        var main = page.querySelector("main");
        if (main) {
          document.querySelector("main").replaceWith(document.adoptNode(main));
          enhanceUpload();
          var invalid = document.querySelector('#upload-form [aria-invalid="true"]');
          if (invalid) { invalid.focus(); }
        }
      });
      request.addEventListener("error", function () {
        bar.classList.add("d-none");
        form.querySelectorAll('[type="submit"]').forEach(function (button) { button.disabled = false; });
        showError("The upload failed. Check your connection and try again.");
      });
      request.open("POST", form.action || window.location.href);
      request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      request.send(data);
    });
  };
  enhanceUpload();

  // A finished job reloads the page at #result: move focus to what happened.
  if (window.location.hash === "#result") {
    var outcome = document.getElementById("result-heading") || document.getElementById("failure") ||
      document.getElementById("cancelled");
    if (outcome) { outcome.focus(); }
  }

  var job = document.getElementById("job");
  if (job) {
    var progress = document.getElementById("job-progress");
    var fillBar = progress.querySelector(".progress-bar");
    var text = document.getElementById("job-text");
    var stopped = false;
    // Cancel: no poll may reload the page while the cancel's own request is under way.
    var cancelForm = document.getElementById("cancel-form");
    if (cancelForm) {
      cancelForm.addEventListener("submit", function () { stopped = true; });
    }
    var poll = function () {
      fetch(job.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (state) {
          if (stopped) { return; }
          fillBar.style.width = state.percent + "%";
          fillBar.textContent = state.percent + "%";
          progress.setAttribute("aria-valuenow", state.percent);
          if (state.status === "running" && state.total) {
            text.textContent = "Rows done: " + state.done.toLocaleString() + " of " + state.total.toLocaleString() + ".";
          }
          if (state.status === "done" || state.status === "failed" || state.status === "cancelled") {
            window.history.replaceState(null, "", window.location.pathname + window.location.search + "#result");
            window.location.reload();
          } else {
            window.setTimeout(poll, 1000);
          }
        })
        .catch(function () { if (!stopped) { window.setTimeout(poll, 3000); } });
    };
    window.setTimeout(poll, 500);
  }

  // History: "Select all on this page" ticks every row's box (shown only with scripts).
  var historyForm = document.getElementById("history-form");
  if (historyForm) {
    var selectAll = document.getElementById("select-all");
    var boxes = historyForm.querySelectorAll('input[name="chosen"]');
    if (selectAll && boxes.length) {
      selectAll.closest(".select-all").hidden = false;
      selectAll.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = selectAll.checked; });
      });
      historyForm.addEventListener("change", function (event) {
        if (event.target === selectAll) { return; }
        var ticked = historyForm.querySelectorAll('input[name="chosen"]:checked').length;
        selectAll.checked = ticked === boxes.length;
        selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
      });
    }
  }

  // The options form: the options that apply to the chosen format stay in view, the rest
  // move under "More options"; the line under Convert says which sheets will be converted.
  var optionsForm = document.getElementById("options-form");
  if (optionsForm) {
    var format = optionsForm.querySelector('select[name="output_format"]');
    var here = document.getElementById("format-options");
    var more = document.getElementById("other-options");
    var order = Array.prototype.slice.call(optionsForm.querySelectorAll(".option"));
    var arrange = function () {
      order.forEach(function (option) {
        var applies = option.dataset.formats.split(" ").indexOf(format.value) !== -1;
        (applies ? here : more).appendChild(option);
      });
    };
    format.addEventListener("change", arrange);

    var summary = document.getElementById("sheets-summary");
    if (summary) {
      var describe = function () {
        var all = optionsForm.querySelector('input[name="all_sheets"]');
        var hidden = optionsForm.querySelector('input[name="include_hidden"]');
        var names = Array.prototype.map.call(
          optionsForm.querySelectorAll('input[name="sheets"]:checked'),
          function (box) { return box.value; });
        if (all && all.checked) {
          summary.textContent = "All sheets" + (hidden && hidden.checked ? ", hidden ones too" : "");
        } else if (names.length) {
          summary.textContent = (names.length === 1 ? "Sheet: " : "Sheets: ") + names.join(", ");
        } else {
          summary.textContent = "No sheet chosen";
        }
      };
      optionsForm.addEventListener("change", describe);
    }

    // A sheet tab fetches its page and shows that page's tabs and preview in place, so
    // the choices made in the form stay as they are (a plain link would reset them).
    // While the only sheet ticked is the one shown, the tick follows the tab, as the
    // server's form does.
    var shownSheet = function () {
      var tab = document.querySelector('#sheet-view a[aria-current="page"]');
      return tab ? tab.dataset.sheet : null;
    };
    var followTick = function (before, after) {
      var all = optionsForm.querySelector('input[name="all_sheets"]');
      var ticked = optionsForm.querySelectorAll('input[name="sheets"][type="checkbox"]:checked');
      if ((all && all.checked) || ticked.length !== 1 || ticked[0].value !== before) return;
      var next = Array.prototype.find.call(
        optionsForm.querySelectorAll('input[name="sheets"][type="checkbox"]'),
        function (box) { return box.value === after; });
      if (!next) return;
      ticked[0].checked = false;
      next.checked = true;
      next.dispatchEvent(new Event("change", { bubbles: true }));
    };
    var shownHref = window.location.pathname + window.location.search;
    // Only the last tab asked for is shown: a tab clicked while another's page is on its
    // way aborts that fetch, and an answer that still arrives is dropped (it would put
    // one sheet in the preview while the address and the form named another).
    var pending = null;
    var showSheet = function (href, push) {
      if (pending) { pending.abort(); }
      var request = new AbortController();
      pending = request;
      document.getElementById("sheet-view").setAttribute("aria-busy", "true");
      return fetch(href, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
        signal: request.signal
      })
        .then(function (response) {
          if (!response.ok) { throw new Error(response.status); }
          return response.text();
        })
        .then(function (text) {
          if (request.signal.aborted) { return; }  // a later tab's page is the one to show
          var page = new DOMParser().parseFromString(text, "text/html");
          var fresh = page.getElementById("sheet-view");
          var freshForm = page.getElementById("options-form");
          if (!fresh || !freshForm) { throw new Error("not a sheet page"); }
          var before = shownSheet();
          document.getElementById("sheet-view").replaceWith(document.adoptNode(fresh));
          followTick(before, shownSheet());
          optionsForm.setAttribute("action", freshForm.getAttribute("action"));
          document.title = page.title;
          var url = new URL(href, window.location.href);
          shownHref = url.pathname + url.search;
          if (push) { window.history.pushState({ sheet: shownSheet() }, "", url.href); }
          var tab = fresh.querySelector('a[aria-current="page"]');
          if (tab && push) { tab.focus(); }
        })
        .catch(function () {
          if (!request.signal.aborted) { window.location.assign(href); }
        });
    };
    optionsForm.addEventListener("click", function (event) {
      var link = event.target.closest("#sheet-view .sheet-tabs a");
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      showSheet(link.href, true);
    });
    window.addEventListener("popstate", function () {
      if (window.location.pathname + window.location.search !== shownHref) {
        showSheet(window.location.href, false);
      }
    });
  }
})();
