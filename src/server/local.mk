# src/server: salond.
if ENABLE_SERVER
endif
