// Escalation policy editor: add, remove and reorder steps and targets, keep the field names
// numbered in order (step-<i>-target, step-<i>-after: what the server reads), and write the
// preview in words. The lines match incidents/policies.py describe_steps().
(function () {
  var form = document.querySelector("[data-escalation-form]");
  if (!form) return;
  var stepsBox = form.querySelector("[data-steps]");
  var preview = document.getElementById("esc-preview");
  var stepTemplate = document.getElementById("esc-step-template");
  var targetTemplate = document.getElementById("esc-target-template");
  var DEFAULT_AFTER = "10m";

  function steps() { return Array.prototype.slice.call(stepsBox.querySelectorAll("[data-step]")); }
  function targetsOf(step) { return Array.prototype.slice.call(step.querySelectorAll("[data-target]")); }

  function renumber() {
    var all = steps();
    all.forEach(function (step, i) {
      var n = i + 1;
      step.querySelector("[data-step-number]").textContent = String(n);
      var after = step.querySelector("[data-after]");
      after.name = "step-" + i + "-after";
      after.setAttribute("aria-label", "Step " + n + ", escalate after");
      step.querySelector('[data-move="up"]').disabled = i === 0;
      step.querySelector('[data-move="up"]').setAttribute("aria-label", "Move step " + n + " up");
      step.querySelector('[data-move="down"]').disabled = i === all.length - 1;
      step.querySelector('[data-move="down"]').setAttribute("aria-label", "Move step " + n + " down");
      var remove = step.querySelector("[data-remove-step]");
      remove.disabled = all.length === 1;
      remove.setAttribute("aria-label", "Remove step " + n);
      targetsOf(step).forEach(function (row, j) {
        var select = row.querySelector("select");
        select.name = "step-" + i + "-target";
        select.setAttribute("aria-label", "Step " + n + ", target " + (j + 1));
        row.querySelector("[data-remove-target]").setAttribute(
          "aria-label", "Remove step " + n + ", target " + (j + 1));
      });
    });
    render();
  }

  function whom(option) {
    var value = option.value, cut = value.indexOf(":");
    if (cut < 0 || cut === value.length - 1) return "";
    var kind = value.slice(0, cut), name = value.slice(cut + 1);
    if (kind === "schedule") return "on-call of " + name;
    if (kind === "person") return option.getAttribute("data-label") || name;
    return "channel " + name;
  }

  function and(items) {
    if (items.length <= 2) return items.join(" and ");
    return items.slice(0, -1).join(", ") + " and " + items[items.length - 1];
  }

  function render() {
    if (!preview) return;
    var lines = [], wait = "";
    steps().forEach(function (step, i) {
      var pages = [];
      targetsOf(step).forEach(function (row) {
        var select = row.querySelector("select");
        var option = select.options[select.selectedIndex];
        var text = option ? whom(option) : "";
        if (text) pages.push(text);
      });
      var line = "step " + (i + 1) + ": page " + (pages.length ? and(pages) : "nobody yet");
      lines.push(wait ? "after " + wait + ": " + line : line.charAt(0).toUpperCase() + line.slice(1));
      wait = step.querySelector("[data-after]").value.trim() || DEFAULT_AFTER;
    });
    if (lines.length) {
      var repeat = parseInt(form.querySelector("[data-repeat]").value, 10) || 0;
      if (repeat > 0) {
        lines.push("after " + wait + ": start again from step 1 (" +
          (repeat === 1 ? "1 more time" : repeat + " more times") + ")");
      } else {
        lines.push("after " + wait + ": stop (nobody else is paged)");
      }
    }
    preview.textContent = "";
    lines.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      preview.appendChild(li);
    });
  }

  function fresh(template) {
    return template.content.firstElementChild.cloneNode(true);
  }

  form.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[type=button]");
    if (!button || !form.contains(button)) return;
    var step = button.closest("[data-step]");
    if (button.hasAttribute("data-add-step")) {
      var added = fresh(stepTemplate);
      stepsBox.appendChild(added);
      renumber();
      added.querySelector("select").focus();
    } else if (button.hasAttribute("data-remove-step") && steps().length > 1) {
      step.remove();
      renumber();
    } else if (button.getAttribute("data-move") === "up" && step.previousElementSibling) {
      stepsBox.insertBefore(step, step.previousElementSibling);
      renumber();
      step.querySelector('[data-move="up"]:not(:disabled), [data-move="down"]').focus();
    } else if (button.getAttribute("data-move") === "down" && step.nextElementSibling) {
      stepsBox.insertBefore(step.nextElementSibling, step);
      renumber();
      step.querySelector('[data-move="down"]:not(:disabled), [data-move="up"]').focus();
    } else if (button.hasAttribute("data-add-target")) {
      var row = fresh(targetTemplate);
      step.querySelector("[data-targets]").appendChild(row);
      renumber();
      row.querySelector("select").focus();
    } else if (button.hasAttribute("data-remove-target")) {
      var target = button.closest("[data-target]");
      if (targetsOf(step).length > 1) {
        target.remove();
      } else {
        target.querySelector("select").value = "";
      }
      renumber();
    }
  });
  form.addEventListener("input", render);
  form.addEventListener("change", render);
  renumber();
})();
