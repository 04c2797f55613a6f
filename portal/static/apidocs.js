// Swagger UI on the API reference page (an own file: the portal's CSP allows no inline script).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("swagger");
  if (!box || !window.SwaggerUIBundle) return;
  window.SwaggerUIBundle({ url: box.dataset.spec, domNode: box, deepLinking: true, tryItOutEnabled: false });
});
