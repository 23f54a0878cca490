"""The browser side: the control panel and the MOS study page (Starlette apps served by uvicorn on loopback)."""
