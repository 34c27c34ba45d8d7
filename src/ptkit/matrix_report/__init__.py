"""Host-side views of many verifier reports: the matrix report (HTML, markdown) and the fleet view."""
