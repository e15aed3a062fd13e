resource "aws_db_instance" "crm" {
  username = "crm"
  password = var.db_password
  master_password = "${var.master_password}"
}
