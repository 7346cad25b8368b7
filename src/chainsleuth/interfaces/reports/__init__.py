"""Reports: the landscape report (HTML, PDF, charts) built from the incident database."""
