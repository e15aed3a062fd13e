#!/bin/bash
echo "APP_SECRET=$(openssl rand -base64 32)" >> .env
echo "PG_DATABASE_PASSWORD=$(openssl rand -hex 16)" >> .env
SECRET_KEY=$(head -c 32 /dev/urandom | base64)
