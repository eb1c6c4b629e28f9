"""What runs leave for readers: the run record (``record``), the statistics across runs (``stats``), tables and
figures, the model card (``cards``) and the HTML index (``site``). Everything here reads records; nothing trains."""
