"""Domain services. They never import aiogram: channels call them, not the other way round."""
