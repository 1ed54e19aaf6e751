"use strict";
// The UI's trace page (/ui/trace/{id}): fetches the waterfall's data with the bearer token
// the UI keeps in localStorage, puts it where the page's script reads it (#trace-data),
// then loads that script (the same one `spandb trace --output html` inlines).
(function () {
  const id = decodeURIComponent(location.pathname.split("/").pop() || "");
  const token = localStorage.getItem("spandb.token") || "";
  const headers = token ? { Authorization: "Bearer " + token } : {};
  function fail(msg) {
    document.title = "trace: " + msg;
    document.querySelector("h1").textContent = msg;
  }
  fetch("/api/spandb/traces/" + encodeURIComponent(id) + "/waterfall", { headers })
    .then((r) => r.ok ? r.json() : r.json().then((e) => { throw new Error(e.error || r.statusText); },
      () => { throw new Error(r.status + " " + r.statusText); }))
    .then((page) => {
      document.title = page.title;
      document.querySelector("h1").textContent = page.title;
      document.getElementById("trace-data").textContent = JSON.stringify(page.data);
      const s = document.createElement("script");
      s.src = "/ui/assets/trace.js";
      document.body.appendChild(s);
    })
    .catch((e) => fail(e.message === "a valid bearer token is required"
      ? "a valid bearer token is required: enter it on the UI's main page" : e.message));
})();
