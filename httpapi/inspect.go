package httpapi

// inspectRoutes registers the inspection API and page (issue: inspection).
func (s *Server) inspectRoutes() {}
