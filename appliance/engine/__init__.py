"""The engine: commands to durable state and jobs (``engine``), jobs to results (``jobs``),
one worker per backend (``worker``), and the backend seam (``backend``)."""
