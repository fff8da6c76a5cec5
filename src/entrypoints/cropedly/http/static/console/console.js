// The minimal console: takes the token that Google sign-in put in the URL fragment
// (never sent to any server), keeps it in sessionStorage and clears it from the
// address bar and history at once.
"use strict";
(function () {
  var params = new URLSearchParams(window.location.hash.slice(1));
  var token = params.get("token");
  if (token) {
    sessionStorage.setItem("cropedly.token", token);
    history.replaceState(null, "", window.location.pathname);
  }
  var status = document.getElementById("status");
  var signOut = document.getElementById("sign-out");
  var stored = sessionStorage.getItem("cropedly.token");
  if (!stored) {
    return;
  }
  signOut.hidden = false;
  signOut.addEventListener("click", function () {
    sessionStorage.removeItem("cropedly.token");
    window.location.reload();
  });
  fetch("/auth/v1/me", { headers: { Authorization: "Bearer " + stored } })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (me) {
      status.textContent = me
        ? "Signed in as " + me.email + " (" + me.plan + " plan)."
        : "Your session has expired; sign in again.";
    });
})();
