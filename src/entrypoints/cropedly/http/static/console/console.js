// The Cropedly console: plain JavaScript against the same server's API.
// The token lives in sessionStorage (this tab only, gone when it closes) and in
// the Authorization header of each call: never in a URL, a cookie or lasting storage.
// Google sign-in hands it over in the URL fragment, which browsers never send to a
// server; it is read once and removed from the address bar and history at once.
"use strict";
(function () {
  var KEY = "cropedly.token";
  var CATALOG = "/images/v1/enterprise-resources/images";

  var params = new URLSearchParams(window.location.hash.slice(1));
  var handed = params.get("token");
  if (handed) {
    sessionStorage.setItem(KEY, handed);
    history.replaceState(null, "", window.location.pathname);
  }

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(KEY); }

  // One call of the API; resolves to the parsed JSON (or null), rejects with the
  // problem's detail so every form can show it in its alert region.
  function api(method, path, body) {
    var headers = { Authorization: "Bearer " + token() };
    return fetch(path, { method: method, headers: headers, body: body }).then(function (response) {
      if (response.status === 401) {
        signOut("Your session has expired; sign in again.");
        throw new Error("Not signed in.");
      }
      var type = response.headers.get("content-type") || "";
      var parsed = type.indexOf("json") >= 0 ? response.json() : Promise.resolve(null);
      return parsed.then(function (data) {
        if (!response.ok) {
          var detail = data && (data.detail || data.title);
          throw new Error(detail || ("The server answered " + response.status + "."));
        }
        return data;
      });
    });
  }

  function show(id, message) { $(id).textContent = message || ""; }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // ------------------------------------------------------------ signing in and out

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    $("app").hidden = true;
    $("login-section").hidden = false;
    $("sign-out").hidden = true;
    show("status", message || "Not signed in.");
  }

  $("sign-out").addEventListener("click", function () { signOut("Signed out."); });

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    show("login-error", "");
    var form = new FormData();
    form.append("email", $("login-email").value);
    form.append("password", $("login-password").value);
    fetch("/auth/v1/login", { method: "POST", body: form })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.detail || "Sign-in failed."); }
          return data;
        });
      })
      .then(function (grant) {
        sessionStorage.setItem(KEY, grant.token);
        $("login-password").value = "";
        start();
      })
      .catch(function (error) { show("login-error", error.message); });
  });

  var me = null;

  function start() {
    if (!token()) { return; }
    api("GET", "/auth/v1/me").then(function (who) {
      me = who;
      show("status", "Signed in as " + who.email + " (" + who.plan + " plan).");
      $("sign-out").hidden = false;
      $("login-section").hidden = true;
      $("app").hidden = false;
      loadUsage();
      if (who.plan === "enterprise") {
        loadCatalog();
        loadDomains();
      } else {
        show("catalog-error", "The reference catalog needs the Enterprise plan.");
        show("domains-error", "Registered domains need the Enterprise plan.");
      }
    }).catch(function () { /* signOut already said why */ });
  }

  // ------------------------------------------------------------------- enhancing

  var chosen = [];
  var drop = $("drop-zone");

  function choose(files) {
    chosen = Array.prototype.filter.call(files, function (file) { return file.type.indexOf("image/") === 0 || file.name; });
    show("chosen", chosen.length ? chosen.length + " image(s) chosen: " + chosen.map(function (f) { return f.name; }).join(", ") : "");
  }

  $("enhance-files").addEventListener("change", function () { choose(this.files); });
  ["dragenter", "dragover"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (event) { choose(event.dataTransfer.files); });

  $("enhance-form").addEventListener("submit", function (event) {
    event.preventDefault();
    show("enhance-error", "");
    if (!chosen.length) { show("enhance-error", "Choose or drop at least one image."); return; }
    var form = new FormData();
    chosen.forEach(function (file) { form.append("images", file, file.name); });
    ["upscale", "restore", "adjust", "format", "width", "height", "fit", "crop", "reference"].forEach(function (id) {
      var field = $(id);
      // Upscale 1 is the default; sending it would clash with a width or height.
      if (field.value && !(id === "upscale" && field.value === "1")) { form.append(field.name, field.value); }
    });
    var originals = chosen.slice();
    var button = $("enhance-button");
    button.disabled = true;
    button.textContent = "Enhancing…";
    api("POST", "/images/v1", form).then(function (results) {
      var list = $("results");
      list.textContent = "";
      results.forEach(function (result, index) { list.appendChild(comparison(originals[index], result, index)); });
      loadUsage();
    }).catch(function (error) { show("enhance-error", error.message); })
      .then(function () { button.disabled = false; button.textContent = "Enhance"; });
  });

  // Before and after, one over the other; the slider (a labelled range input, so
  // arrow keys move it) clips the enhanced image to show the original beside it.
  function comparison(original, result, index) {
    var figure = element("figure", { "class": "result" });
    var box = element("div", { "class": "compare" });
    var before = element("img", { src: URL.createObjectURL(original), alt: "Original " + original.name, "class": "before" });
    var after = element("img", { src: result.url, alt: "Enhanced " + result.originalName, "class": "after" });
    box.appendChild(before);
    box.appendChild(after);
    var sliderId = "compare-" + index;
    var label = element("label", { "for": sliderId, "class": "compare-label" });
    label.appendChild(element("span", {}, "Original"));
    label.appendChild(element("span", {}, "Compare"));
    label.appendChild(element("span", {}, "Enhanced"));
    var slider = element("input", { id: sliderId, type: "range", min: "0", max: "100", value: "50" });
    function clip() { after.style.setProperty("clip-path", "inset(0 0 0 " + slider.value + "%)"); }
    slider.addEventListener("input", clip);
    clip();
    var caption = element("figcaption");
    caption.appendChild(document.createTextNode(result.originalName + ": " + result.width + "×" + result.height + ", " + result.mimeType + ", " + result.size + " bytes. "));
    caption.appendChild(element("a", { href: result.url, download: result.originalName }, "Download"));
    figure.appendChild(box);
    figure.appendChild(label);
    figure.appendChild(slider);
    figure.appendChild(caption);
    return figure;
  }

  // ------------------------------------------------------------ reference catalog

  function loadCatalog() {
    api("GET", CATALOG).then(function (items) {
      var list = $("catalog-list");
      var select = $("reference");
      list.textContent = "";
      select.textContent = "";
      select.appendChild(element("option", { value: "" }, "None"));
      items.forEach(function (item) {
        var entry = element("li");
        entry.appendChild(element("img", { src: item.url, alt: item.originalName, loading: "lazy" }));
        entry.appendChild(element("p", {}, item.originalName + " (" + item.width + "×" + item.height + ")"));
        var remove = element("button", { type: "button", "class": "secondary" }, "Delete " + item.originalName);
        remove.addEventListener("click", function () {
          api("DELETE", CATALOG + "?ids=" + encodeURIComponent(item.id)).then(loadCatalog)
            .catch(function (error) { show("catalog-error", error.message); });
        });
        entry.appendChild(remove);
        list.appendChild(entry);
        select.appendChild(element("option", { value: item.id }, item.originalName));
      });
      loadUsage();
    }).catch(function (error) { show("catalog-error", error.message); });
  }

  $("catalog-form").addEventListener("submit", function (event) {
    event.preventDefault();
    show("catalog-error", "");
    var form = new FormData();
    Array.prototype.forEach.call($("catalog-files").files, function (file) { form.append("images", file, file.name); });
    api("POST", CATALOG + "/upload", form).then(function () {
      $("catalog-files").value = "";
      loadCatalog();
    }).catch(function (error) { show("catalog-error", error.message); });
  });

  // ------------------------------------------------------------------- domains

  function loadDomains() {
    api("GET", "/account/v1/domains").then(function (domains) {
      var list = $("domain-list");
      list.textContent = "";
      domains.forEach(function (domain) {
        var entry = element("li", {}, domain.origin + " ");
        var remove = element("button", { type: "button", "class": "secondary" }, "Remove " + domain.origin);
        remove.addEventListener("click", function () {
          api("DELETE", "/account/v1/domains/" + encodeURIComponent(domain.id)).then(loadDomains)
            .catch(function (error) { show("domains-error", error.message); });
        });
        entry.appendChild(remove);
        list.appendChild(entry);
      });
    }).catch(function (error) { show("domains-error", error.message); });
  }

  $("domain-form").addEventListener("submit", function (event) {
    event.preventDefault();
    show("domains-error", "");
    var form = new FormData();
    form.append("origin", $("domain-origin").value);
    api("POST", "/account/v1/domains", form).then(function () {
      $("domain-origin").value = "";
      loadDomains();
    }).catch(function (error) { show("domains-error", error.message); });
  });

  // --------------------------------------------------------------------- usage

  function loadUsage() {
    api("GET", "/account/v1/usage").then(function (usage) {
      var rows = [
        ["Images enhanced", usage.imagesProcessed, usage.imagesLimit],
        ["Catalog bytes stored", usage.bytesStored, usage.bytesLimit],
        ["Catalog images", usage.catalogImages, usage.catalogImagesLimit],
        ["Requests per minute", "", usage.requestsPerMinute]
      ];
      var body = $("usage-table").tBodies[0];
      body.textContent = "";
      rows.forEach(function (row) {
        var tr = element("tr");
        tr.appendChild(element("th", { scope: "row" }, row[0]));
        tr.appendChild(element("td", {}, String(row[1])));
        tr.appendChild(element("td", {}, String(row[2])));
        body.appendChild(tr);
      });
    }).catch(function () { /* the usage table stays as it was */ });
  }

  $("usage-refresh").addEventListener("click", loadUsage);

  if (token()) { start(); }
})();
