import os
from pydantic import BaseSettings, Field


class Settings(BaseSettings):
    password: str = Field(..., min_length=8)
    client_secret: str | None = None


DB_PASSWORD = os.environ["DB_PASSWORD"]
API_KEY = os.getenv("API_KEY")
SECRET_KEY = settings.get("SECRET_KEY")
