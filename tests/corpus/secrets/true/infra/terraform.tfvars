db_password = "Pg-9kQ2#xWm4"
