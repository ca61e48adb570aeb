// The share card: 复制链接 and the phone's own 分享 sheet. Both buttons stay hidden without this
// file (the link field can still be selected by hand), and 分享 also where the browser has no
// Web Share (WeChat's browser: its ··· menu shares the page instead).
(function () {
  "use strict";

  function say(card, text) {
    var feedback = card.querySelector("[data-share-feedback]");
    if (!feedback) return;
    feedback.textContent = text;
    clearTimeout(feedback._timer);
    feedback._timer = setTimeout(function () { feedback.textContent = ""; }, 3000);
  }

  // Older WebViews have no async clipboard, or refuse it outside a secure context.
  function copyBySelection(input) {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  function copy(card, input) {
    var done = function () { say(card, "链接已复制，可粘贴到微信发送给法定代表人"); };
    var fallback = function () {
      if (copyBySelection(input)) done();
      else say(card, "请长按上方链接手动复制");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  }

  function setUp(card) {
    var copyBtn = card.querySelector("[data-copy-target]");
    var shareBtn = card.querySelector("[data-share-target]");
    var input = card.querySelector("[data-share-url]");
    if (!input) return;
    input.addEventListener("focus", function () { input.select(); });
    if (copyBtn) {
      copyBtn.hidden = false;
      copyBtn.addEventListener("click", function () { copy(card, input); });
    }
    if (shareBtn && navigator.share) {
      var data = { title: card.dataset.shareTitle, text: card.dataset.shareText, url: input.value };
      if (!navigator.canShare || navigator.canShare(data)) {
        shareBtn.hidden = false;
        shareBtn.addEventListener("click", function () {
          navigator.share(data).catch(function (err) {
            // AbortError: the user closed the sheet; anything else, offer the copy instead.
            if (err && err.name !== "AbortError") copy(card, input);
          });
        });
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".share-card").forEach(setUp);
  });
})();
