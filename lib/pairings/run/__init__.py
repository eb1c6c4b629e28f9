"""Running the study, on top of every step below it: a notebook's steps as one object (``pipeline``), planning a
profile's runs (``plan``), executing and publishing each (``staging``, ``signals``) one at a time, several at once
or on Ray (``executors``, ``ray_executor``), ``reproduce``, ``scaffold`` (``new``) and the command line (``cli``)."""
