"""Conference bridges and media: WebRTC, SIP, capture sources, link-health samples."""
