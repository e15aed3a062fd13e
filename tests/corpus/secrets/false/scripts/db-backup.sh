#!/bin/sh
read -s -p "Password: " PASSWORD
export PGPASSWORD="$PASSWORD"
export DB_PASSWORD="$1"
