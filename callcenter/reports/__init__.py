"""Reports: the supervisors' live board (`board`, fed to pages by `feed`), and later the
historical metrics."""
