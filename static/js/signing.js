// 签署文件: post the form with fetch, save the signed PDF and show 签署完成. Without this file the
// form posts normally and the browser downloads the PDF itself.
(function () {
  "use strict";
  if (!window.fetch || !window.FormData || !window.URL || !window.DOMParser) return;

  var lastUrl = null;

  function filenameFrom(disposition) {
    var star = /filename\*\s*=\s*utf-8''([^;]+)/i.exec(disposition || "");
    if (star) {
      try { return decodeURIComponent(star[1]); } catch (e) { /* fall through */ }
    }
    var plain = /filename\s*=\s*"([^"]+)"/i.exec(disposition || "");
    return plain ? plain[1] : "已签章.pdf";
  }

  function save(blob, name) {
    if (lastUrl) URL.revokeObjectURL(lastUrl);
    lastUrl = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.href = lastUrl;
    link.download = name;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    var done = document.getElementById("sign-done");
    var body = document.getElementById("sign-body");
    done.querySelector("[data-sign-filename]").textContent = name;
    var again = done.querySelector("[data-sign-download]");
    again.href = lastUrl;
    again.setAttribute("download", name);
    body.hidden = true;
    done.hidden = false;
    done.focus();
    done.scrollIntoView({ block: "start" });
  }

  // The page came back with errors: show its form, keeping the chosen PDF when it was fine
  // (file inputs cannot be filled by the server). The selfie is always taken again.
  function showErrors(html, oldForm) {
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("sign-body");
    var body = document.getElementById("sign-body");
    if (!fresh || !body) {
      window.location.assign(oldForm.action);
      return;
    }
    var oldDocument = oldForm.querySelector("input[name=document]");
    body.replaceWith(fresh);
    var newDocument = fresh.querySelector("input[name=document]");
    if (oldDocument && newDocument && oldDocument.files.length &&
        !newDocument.closest(".field").classList.contains("has-error")) {
      try {
        newDocument.files = oldDocument.files;
        var hint = fresh.querySelector("[data-reselect]");
        if (hint) hint.remove();
      } catch (e) { /* the user picks the file again */ }
    }
    var target = fresh.querySelector("[autofocus]") || fresh.querySelector("[role=alert]");
    if (target) {
      target.scrollIntoView({ block: "center" });
      if (target.focus) target.focus({ preventScroll: true });
    }
  }

  function fail(form, message) {
    var alert = form.querySelector(".sign-network-error");
    if (!alert) {
      alert = document.createElement("div");
      alert.className = "alert alert-error sign-network-error";
      alert.setAttribute("role", "alert");
      form.insertBefore(alert, form.querySelector("section"));
    }
    alert.textContent = message;
    alert.scrollIntoView({ block: "center" });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "sign-form") return;
    event.preventDefault();
    if (form.classList.contains("htmx-request")) return;
    var button = form.querySelector("button[type=submit]");
    form.classList.add("htmx-request"); // shows the button's 正在签署… (app.css)
    button.disabled = true;
    var finish = function () {
      form.classList.remove("htmx-request");
      button.disabled = false;
    };
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.ok && type.indexOf("application/pdf") === 0) {
          var name = filenameFrom(response.headers.get("Content-Disposition"));
          return response.blob().then(function (blob) {
            finish();
            form.reset();
            save(blob, name);
          });
        }
        return response.text().then(function (html) {
          finish();
          showErrors(html, form);
        });
      })
      .catch(function () {
        finish();
        fail(form, "网络异常，文件未签署，请检查网络后重试");
      });
  });

  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-sign-restart]")) return;
    document.getElementById("sign-done").hidden = true;
    var body = document.getElementById("sign-body");
    body.hidden = false;
    body.scrollIntoView({ block: "start" });
  });
})();
