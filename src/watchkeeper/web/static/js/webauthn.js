// Security keys and passkeys (WebAuthn) on the sign-in, enrolment and Security pages.
//
// A button with data-webauthn="register" or "authenticate" runs one ceremony: POST to its
// data-options-url for the options (with a fresh challenge), ask the browser, POST the answer
// to data-verify-url, then follow the "redirect" the server answers with. The CSRF token is
// in data-csrf; the key's name (register) comes from [data-webauthn-name] in the same
// [data-webauthn-box]; progress and errors go to its [data-webauthn-status].
(function () {
  "use strict";

  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64url(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function registrationJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64url(r.clientDataJSON),
        attestationObject: toB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      }
    };
  }

  function assertionJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64url(r.clientDataJSON),
        authenticatorData: toB64url(r.authenticatorData),
        signature: toB64url(r.signature),
        userHandle: toB64url(r.userHandle)
      }
    };
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrf
      },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) throw new Error(data.detail || "the server answered " + resp.status);
        return data;
      });
    });
  }

  function explain(err) {
    if (err && err.name === "NotAllowedError") {
      return "The security key request was cancelled or timed out. Try again.";
    }
    if (err && err.name === "InvalidStateError") {
      return "This security key is already registered.";
    }
    var text = (err && err.message) || String(err);
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-webauthn]");
    if (!button || button.disabled) return;
    ev.preventDefault();
    var box = button.closest("[data-webauthn-box]") || document;
    var status = box.querySelector("[data-webauthn-status]");
    function show(text, kind) {
      if (!status) return;
      status.textContent = text;
      status.className = "alert " + kind;
      status.setAttribute("role", kind === "error" ? "alert" : "status");
      status.hidden = false;
    }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show("This browser cannot use security keys here (it needs HTTPS or localhost).", "error");
      return;
    }
    var csrf = button.getAttribute("data-csrf") || "";
    var next = button.getAttribute("data-next") || "";
    var registering = button.getAttribute("data-webauthn") === "register";
    var nameInput = box.querySelector("[data-webauthn-name]");
    button.disabled = true;
    show("Follow your browser's prompt: touch your security key or confirm your passkey.", "info");
    post(button.getAttribute("data-options-url"), csrf, {})
      .then(function (options) {
        return registering
          ? navigator.credentials.create({ publicKey: creationOptions(options) })
          : navigator.credentials.get({ publicKey: requestOptions(options) });
      })
      .then(function (cred) {
        var body = registering
          ? { credential: registrationJSON(cred), name: nameInput ? nameInput.value : "" }
          : { credential: assertionJSON(cred) };
        body.next = next;
        return post(button.getAttribute("data-verify-url"), csrf, body);
      })
      .then(function (result) {
        show(registering ? "Security key added." : "Verified. Signing you in…", "ok");
        window.location.assign(result.redirect || "/");
      })
      .catch(function (err) {
        show(explain(err), "error");
        button.disabled = false;
      });
  });
})();
