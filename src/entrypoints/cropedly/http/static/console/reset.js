// The reset page: the mailed link carries the token in the fragment (never sent to
// a server, so never in an access log); it fills the form and leaves the address bar.
"use strict";
(function () {
  var params = new URLSearchParams(window.location.hash.slice(1));
  var token = params.get("token");
  if (token) {
    document.getElementById("token").value = token;
    history.replaceState(null, "", window.location.pathname);
  }
  var result = document.getElementById("result");
  document.getElementById("reset").addEventListener("submit", function (event) {
    event.preventDefault();
    fetch("/auth/v1/reset-password", { method: "POST", body: new FormData(event.target) })
      .then(function (response) {
        if (response.status === 204) {
          result.textContent = "Your password is set; older sessions are signed out.";
          return null;
        }
        return response.json().then(function (problem) {
          result.textContent = problem.detail || "The password could not be set.";
        });
      });
  });
})();
